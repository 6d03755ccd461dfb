/**
 * `@wharf/http-express`: mounts a wharf registry in an Express 4 or 5 app.
 *
 * @packageDocumentation
 */
export { type WharfMiddleware, type WharfOptions, wharf } from './middleware.js';
