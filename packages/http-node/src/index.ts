/**
 * `@wharf/http-node`: serves a wharf registry from `node:http` (or `https`, or an `http2`
 * compatibility server).
 *
 * @packageDocumentation
 */
export {
  createHandler,
  hasBody,
  isRegistryPath,
  type NodeHandler,
  type NodeHandlerOptions,
} from './handler.js';
