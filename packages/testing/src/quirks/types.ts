import type { RegistryFeatures, RegistryLimits } from '@wharf/core';

/** How a registry pages tag or repository lists. Unset fields behave as the spec says. */
export interface PaginationQuirk {
  /** Largest `n` the registry takes; see `overMax`. */
  readonly maxPageSize?: number;
  /** What a larger `n` gets: the registry's error (default) or a page of `maxPageSize`. */
  readonly overMax?: 'error' | 'clamp';
  /** The error a too large `n` gets. Default 400 `PAGINATION_NUMBER_INVALID`. */
  readonly overMaxError?: {
    readonly status: number;
    readonly code: string;
    readonly message: string;
    /** Whether the error's `detail` is `{ "n": <n> }`. */
    readonly detailN?: boolean;
  };
  /** Page size when the client sends no `n`. Default: everything (up to the registry's limit). */
  readonly defaultPageSize?: number;
  /** Answers the whole list whatever `n` and `last` say, without a `Link`. */
  readonly ignored?: boolean;
  /** `unsorted`: names in storage order (a fixed shuffle), not lexical; only with `ignored`. */
  readonly order?: 'lexical' | 'unsorted';
  /**
   * The `Link` to the next page: `relative` (default), `absolute` (with scheme and host), `none`
   * (clients must page with `last` themselves), or `opaque-cursor`: a `next_page` token instead of
   * `last`, which the registry then ignores.
   */
  readonly link?: 'relative' | 'absolute' | 'none' | 'opaque-cursor';
  /** Extra query parameters in the `Link` URL. */
  readonly linkParams?: Readonly<Record<string, string>>;
}

/** Docker token authentication: every request needs a bearer token from the kit's token endpoint. */
export interface BearerAuthQuirk {
  readonly scheme: 'bearer';
  /** The challenge's and tokens' `service`. */
  readonly service: string;
  /** Path of the token endpoint on the registry's own origin. Default `/token`. */
  readonly realmPath?: string;
  /** Whether clients without credentials get pull tokens. Default true. */
  readonly anonymousPull?: boolean;
  /** Token lifetime in seconds (`expires_in`), measured on the registry's clock. Default 300. */
  readonly expiresIn?: number;
}

/** HTTP Basic authentication on every request, challenged with `realm` (and `service`). */
export interface BasicAuthQuirk {
  readonly scheme: 'basic';
  /** The realm; `{origin}` becomes the registry's origin. */
  readonly realm: string;
  readonly service?: string;
}

/** Who answers `_catalog` and how, when not as the spec says. */
export type CatalogQuirk =
  | 'supported'
  | { readonly status: number; readonly code: string; readonly message: string }
  | { readonly redirect: string };

/**
 * Behaviour of another registry, as plain data. The kit turns it into core options (features,
 * limits) and route middleware; nothing here changes core. Combine several with `mergeQuirks` or
 * by passing a list: later entries override earlier ones.
 */
export interface Quirks {
  /** Core feature toggles (deletes, mounts, `?tag=`, single-request uploads…). */
  readonly features?: Partial<RegistryFeatures>;
  /** Core limits (chunk sizes, manifest size, page size…). */
  readonly limits?: Partial<RegistryLimits>;
  /** Authentication every request needs; `null` removes what an earlier profile set. */
  readonly auth?: BearerAuthQuirk | BasicAuthQuirk | null;
  /**
   * The referrers API. `unsupported`: `GET /v2/<name>/referrers/<digest>` answers 404 (`404 page not
   * found`, as a Go router does) and pushes get no `OCI-Subject`, so clients must fall back to the
   * referrers tag schema; seeded referrers are listed there too.
   */
  readonly referrers?: 'supported' | 'unsupported';
  /** Send `OCI-Subject` on pushes even though the referrers API is unsupported. */
  readonly subjectHeader?: boolean;
  /** `Docker-Content-Digest` on manifest responses: always (default) or not on GETs by tag. */
  readonly digestHeader?: 'always' | 'not-on-tag-get';
  /** Answer an OCI manifest or index only when the request's `Accept` names its media type. */
  readonly strictAccept?: boolean;
  /** Manifest media types accepted on push; others get 400 `MANIFEST_INVALID`. */
  readonly manifestMediaTypes?: readonly string[];
  /**
   * Artifact types accepted on push (the manifest's `artifactType`, else its config media type);
   * image configs are always accepted, anything else gets 400 `MANIFEST_INVALID`.
   */
  readonly artifactTypes?: readonly string[];
  /** Paging of `GET /v2/<name>/tags/list`. */
  readonly tags?: PaginationQuirk;
  /** Paging of `GET /v2/_catalog`. */
  readonly catalog?: PaginationQuirk;
  /** Whether `_catalog` is served at all. */
  readonly catalogAccess?: CatalogQuirk;
  /** `gcr`: tag lists also carry `child` and `manifest` (digest → tags, media type, times). */
  readonly tagsListExtras?: 'gcr';
  /**
   * Where pushes may go: anywhere (`created-on-push`, default), only to repositories created first
   * (`explicit`, see `createRepository`), or only under a project (`projects`: at least two path
   * components, the first a created project; `library` exists from the start).
   */
  readonly repositories?: 'created-on-push' | 'explicit' | 'projects';
  /**
   * Blob GETs answer with a redirect to another origin (a second loopback socket, or
   * `http://blobs.registry.local` in process) serving the bytes at a signed URL that expires on the
   * registry's clock, as registries behind a CDN or object store do.
   */
  readonly blobRedirect?: { readonly status: 302 | 307; readonly expiresIn?: number } | null;
  /**
   * A pull rate limit: manifest GETs per window, counted on the registry's clock, reported in
   * `ratelimit-limit`/`ratelimit-remaining` on manifest responses and answered with 429 beyond it.
   */
  readonly pullRateLimit?: {
    readonly limit: number;
    readonly windowSeconds: number;
    readonly message?: string;
  } | null;
}

/** A named set of quirks reproducing one registry, with the sources of what it reproduces. */
export interface QuirkProfile extends Quirks {
  /** Short key, e.g. `ecr`. */
  readonly name: string;
  /** Human name, e.g. `Amazon ECR`. */
  readonly title: string;
  /** What the profile reproduces, in a sentence or two. */
  readonly description: string;
  /** Public documentation and issues that describe each behaviour. */
  readonly sources: readonly string[];
}
