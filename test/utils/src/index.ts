export { type Deferred, deferred, tick } from './async.js';
export { type FetchLike, OciClient, type PushMode, withAuthorization } from './client.js';
export { type ConsumedEvent, parseDistributionEnvelope } from './distribution-events.js';
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
export {
  type LayerFile,
  type LayoutEntry,
  layoutBlob,
  layoutDigest,
  makeRealImage,
  type RealImage,
  tarGzLayer,
  writeOciLayout,
} from './oci-layout.js';
export { type ReceivedRequest, type Receiver, startReceiver } from './receiver.js';
export { REPO_ROOT, type ServerProcess, type StartServerOptions, startServer } from './server.js';
export { rounds, STRESS } from './stress.js';
export { freePort, hasTool, run, type ScratchDir, type ScratchEnv, s3Env, scratch } from './tools.js';
