export { type FetchLike, OciClient, type PushMode } from './client.js';
export {
  type Content,
  jsonContent,
  type MakeImageOptions,
  makeImage,
  makeIndex,
  randomContent,
  sha256,
  sha512,
  type TestImage,
} from './image.js';
export { REPO_ROOT, type ServerProcess, type StartServerOptions, startServer } from './server.js';
export { hasTool, s3Env } from './tools.js';
