/**
 * `@wharf/http-node`: serves a wharf registry from `node:http`, `node:https` or an `http2`
 * compatibility server.
 *
 * @packageDocumentation
 */

export {
  type ClientErrorInfo,
  type ClientErrorOptions,
  type ClientErrorSource,
  handleClientErrors,
} from './client-error.js';
export { createHandler, type NodeHandler, type NodeHandlerOptions } from './handler.js';
export { registryCheck } from './options.js';
export { isRegistryPath, type NodeRequest, type NodeResponse } from './request.js';
