/**
 * `@wharf/http-node`: serves a wharf registry from `node:http`, `node:https` or an `http2`
 * compatibility server.
 *
 * @packageDocumentation
 */
export { createHandler, type NodeHandler, type NodeHandlerOptions } from './handler.js';
export { hasBody, isRegistryPath, type NodeRequest, type NodeResponse } from './request.js';
