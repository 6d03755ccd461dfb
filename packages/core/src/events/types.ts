import type { ProxyEvent } from '../proxy/types.js';

/**
 * The registry's events: what happened (reported by the request handlers and garbage collection)
 * and the context core attaches to it centrally (id, time, actor, request, source).
 */

/** Something that changed (or was read) in the registry, as the code that did it reports it. */
export type RegistryEventData =
  | {
      readonly type: 'blob.pushed';
      readonly repository: string;
      readonly digest: string;
      readonly size: number;
    }
  | {
      readonly type: 'blob.mounted';
      readonly repository: string;
      readonly digest: string;
      /** The repository it was mounted from; `undefined` for an automatic (from-less) mount. */
      readonly from: string | undefined;
    }
  | {
      readonly type: 'blob.pulled';
      readonly repository: string;
      readonly digest: string;
      readonly size: number;
    }
  | { readonly type: 'blob.deleted'; readonly repository: string; readonly digest: string }
  | {
      readonly type: 'manifest.pushed';
      readonly repository: string;
      readonly digest: string;
      readonly mediaType: string;
      readonly size: number;
      /** Tags the push wrote (the reference tag and any `?tag=`); empty for a push by digest. */
      readonly tags: readonly string[];
      /** The `subject` digest of a referrer. */
      readonly subject: string | undefined;
      /** The artifact type (`artifactType`, else a non-image `config.mediaType`), when present. */
      readonly artifactType?: string;
    }
  | {
      readonly type: 'manifest.pulled';
      readonly repository: string;
      readonly digest: string;
      /** The tag or digest the client asked for. */
      readonly reference: string;
    }
  | { readonly type: 'manifest.deleted'; readonly repository: string; readonly digest: string }
  | {
      readonly type: 'tag.deleted';
      readonly repository: string;
      readonly tag: string;
      readonly digest: string;
    }
  | {
      /**
       * What one garbage collection removed from one repository (manifest revisions and blob
       * links); a collection that reclaimed anything also reports one event without a repository
       * that counts the blobs and bytes it reclaimed.
       */
      readonly type: 'gc.swept';
      readonly repository: string | undefined;
      readonly manifests: readonly string[];
      readonly links: readonly string[];
      readonly blobs: number;
      readonly bytesReclaimed: number;
    }
  | ProxyEvent;

/** The kinds of event. */
export type RegistryEventType = RegistryEventData['type'];

/** Who caused an event: the `user` of the `authorize` hook's decision. */
export interface EventActor {
  readonly name?: string;
}

/** The request that caused an event. */
export interface EventRequest {
  /** The request id (`X-Request-Id`). */
  readonly id: string;
  /** The client's address as the adapter saw it (`RegistryRequest.remoteAddress`). */
  readonly addr?: string;
  /** The `Host` header. */
  readonly host?: string;
  readonly method: string;
  /** The `User-Agent` header. */
  readonly userAgent?: string;
}

/** The registry instance that recorded an event. */
export interface EventSource {
  /** Changes on every start of the process (as distribution's `instanceID`). */
  readonly instanceId: string;
  /** The instance's host name (and port, when the host says so). */
  readonly addr?: string;
}

/** What core attaches to every event. */
export interface EventContext {
  /** A UUID; receivers deduplicate by it (delivery is at least once). */
  readonly id: string;
  /** When the event happened (ISO 8601, UTC). */
  readonly timestamp: string;
  readonly actor: EventActor;
  /** The request that caused it; absent for events no request caused (garbage collection). */
  readonly request?: EventRequest;
  readonly source: EventSource;
}

/** An event with its context, as subscribers, transports and formats receive it. */
export type RegistryEvent = RegistryEventData & EventContext;
