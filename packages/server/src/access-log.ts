import type { RequestFinishedEvent } from '@wharf/core';
import type { ServerLogger } from './logging.js';

/** The fields of an access-log line: never a header, a password or a token. */
export interface AccessLogFields {
  readonly reqId: string;
  readonly method: string;
  /** Path only: queries may carry what the log should not keep. */
  readonly path: string;
  readonly status: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly durationSeconds: number;
  readonly user: string | undefined;
  readonly route?: string | undefined;
  readonly repository?: string | undefined;
  readonly errorCode?: string | undefined;
  readonly aborted?: boolean;
}

/** The path of a request target, without its query. */
export function pathOf(url: string): string {
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

/** Writes one access-log line. */
export function logAccess(logger: ServerLogger, fields: AccessLogFields): void {
  logger.info({ access: true, ...fields }, `${fields.method} ${fields.path} ${fields.status}`);
}

/** An access-log line from the registry's `requestFinished` hook. */
export function accessFieldsOf(event: RequestFinishedEvent, prefix: string): AccessLogFields {
  return {
    reqId: event.requestId,
    method: event.method,
    path: prefix + pathOf(event.url),
    status: event.status,
    bytesIn: event.bytesIn,
    bytesOut: event.bytesOut,
    durationSeconds: Math.round(event.durationSeconds * 1e6) / 1e6,
    user: event.user,
    route: event.route,
    repository: event.repository,
    errorCode: event.errorCode,
    aborted: event.aborted,
  };
}
