import type { QuirkProfile } from './types.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/**
 * Docker Hub: token authentication even for anonymous pulls, a pull rate limit reported in
 * `ratelimit-*` headers, blobs served by a CDN after a 307, and no referrers API.
 */
const dockerhub: QuirkProfile = {
  name: 'dockerhub',
  title: 'Docker Hub',
  description:
    'Bearer tokens from a token endpoint for every request, anonymous ones included; a pull rate limit reported in ratelimit-limit/ratelimit-remaining (100;w=21600) and answered with 429 TOOMANYREQUESTS; blob GETs redirected (307) to a CDN; no referrers API, so referrers live under the sha256-<hex> fallback tag.',
  sources: [
    'https://docs.docker.com/docker-hub/usage/pulls/',
    'https://docs.docker.com/desktop/setup/allow-list/',
    'https://github.com/opencontainers/distribution-spec/issues/299',
    'https://github.com/docker/roadmap/issues/724',
  ],
  auth: { scheme: 'bearer', service: 'registry.docker.io', anonymousPull: true, expiresIn: 300 },
  pullRateLimit: { limit: 100, windowSeconds: 21600 },
  blobRedirect: { status: 307 },
  referrers: 'unsupported',
};

/**
 * Amazon ECR: Basic authentication, tag pages of 100 and an error for `n` above 1000, no
 * `Docker-Content-Digest` on GETs by tag, repositories that must exist before a push, blobs from
 * S3, `OCI-Subject` sent without a referrers API.
 */
const ecr: QuirkProfile = {
  name: 'ecr',
  title: 'Amazon ECR',
  description:
    'HTTP Basic authentication (service ecr.amazonaws.com); tag lists paged by 100 and n > 1000 refused with 400 UNSUPPORTED "Invalid parameter at \'maxResults\'…"; no Docker-Content-Digest on manifest GETs by tag; pushes to a repository nobody created answer 404 NAME_UNKNOWN; blob GETs redirected (307) to S3; OCI-Subject returned on pushes although the referrers API answers 404.',
  sources: [
    'https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html',
    'https://github.com/google/go-containerregistry/issues/681',
    'https://github.com/genuinetools/reg/issues/206',
    'https://github.com/cue-labs/oci/blob/main/ociregistry/ociserver/registry.go',
    'https://github.com/aws/containers-roadmap/issues/853',
    'https://github.com/regclient/regclient/issues/869',
    'https://github.com/sigstore/sigstore-js/pull/1183',
    'https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html',
  ],
  auth: { scheme: 'basic', realm: '{origin}/', service: 'ecr.amazonaws.com' },
  tags: {
    defaultPageSize: 100,
    maxPageSize: 1000,
    overMaxError: {
      status: 400,
      code: 'UNSUPPORTED',
      message:
        "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to 1000'",
    },
  },
  digestHeader: 'not-on-tag-get',
  repositories: 'explicit',
  referrers: 'unsupported',
  subjectHeader: true,
  blobRedirect: { status: 307 },
};

/**
 * Google Artifact Registry (and gcr.io): token authentication at `/v2/token`, tag lists with
 * GCR's `child`/`manifest` extension, `_catalog` redirected to documentation.
 */
const gar: QuirkProfile = {
  name: 'gar',
  title: 'Google Artifact Registry',
  description:
    'Bearer tokens from /v2/token (anonymous pulls of public repositories allowed); tag lists carry the non-standard child and manifest fields (digest → mediaType, tag, timeUploadedMs…); _catalog answered with a redirect to the documentation instead of a listing.',
  sources: [
    'https://github.com/kubernetes-sigs/promo-tools/issues/7',
    'https://github.com/google/go-containerregistry/pull/700',
    'https://github.com/snyk/docker-registry-v2-client/blob/main/src/registry-call.ts',
  ],
  auth: {
    scheme: 'bearer',
    service: 'pkg.dev',
    realmPath: '/v2/token',
    anonymousPull: true,
    expiresIn: 3600,
  },
  tagsListExtras: 'gcr',
  catalogAccess: { redirect: 'https://cloud.google.com/artifact-registry/docs/transition/changes-docker' },
};

/** GitHub Container Registry: anonymous token dance, no referrers API, blobs from a CDN. */
const ghcr: QuirkProfile = {
  name: 'ghcr',
  title: 'GitHub Container Registry',
  description:
    'Bearer tokens from ghcr.io/token even for anonymous pulls of public packages; no referrers API (tools fall back to the sha256-<hex> tag); blob GETs redirected (307) to pkg-containers.githubusercontent.com.',
  sources: [
    'https://github.com/containerd/stargz-snapshotter/pull/167',
    'https://github.com/buildkite/cleanroom/pull/330',
    'https://github.com/actions/attest-build-provenance/issues/71',
    'https://github.com/tektoncd/chains/pull/1691',
    'https://github.com/opencontainers/distribution-spec/issues/299',
  ],
  auth: { scheme: 'bearer', service: 'ghcr.io', anonymousPull: true, expiresIn: 300 },
  referrers: 'unsupported',
  blobRedirect: { status: 307 },
};

/** Azure Container Registry: tokens from `/oauth2/token`, `orderby=` in `Link`, blobs from storage. */
const acr: QuirkProfile = {
  name: 'acr',
  title: 'Azure Container Registry',
  description:
    'Bearer tokens from /oauth2/token with the registry host as service, no anonymous pulls unless enabled; Link headers of tag and repository lists carry an extra empty orderby= parameter; blob GETs redirected (307) to a storage account or dedicated data endpoint.',
  sources: [
    'https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md',
    'https://learn.microsoft.com/en-us/azure/container-registry/container-registry-endpoint-reference',
    'https://learn.microsoft.com/en-us/azure/container-registry/container-registry-dedicated-data-endpoints',
  ],
  auth: {
    scheme: 'bearer',
    service: 'wharf.azurecr.io',
    realmPath: '/oauth2/token',
    anonymousPull: false,
    expiresIn: 3600,
  },
  tags: { linkParams: { orderby: '' } },
  catalog: { linkParams: { orderby: '' } },
  blobRedirect: { status: 307 },
};

/** Quay: pages of 50 behind an opaque `next_page` cursor, an artifact type allowlist, 302 to a CDN. */
const quay: QuirkProfile = {
  name: 'quay',
  title: 'Quay',
  description:
    'Bearer tokens from /v2/auth; tag lists paged by 50 with an opaque next_page cursor in Link and the last parameter ignored (quay.io until 2024; clients that page with last see the first page again); OCI artifacts accepted only for the artifact types Red Hat Quay allows by default; blob GETs redirected (302) to a CDN.',
  sources: [
    'https://github.com/regclient/regclient/issues/272',
    'https://github.com/ivanilves/lstags/issues/185',
    'https://github.com/deitch/docker_registry2/issues/56',
    'https://docs.redhat.com/en/documentation/red_hat_quay/3.10/html/manage_red_hat_quay/supported-oci-media-types',
    'https://connect.redhat.com/en/blog/container-image-registries-changes-part-2',
  ],
  auth: { scheme: 'bearer', service: 'quay.io', realmPath: '/v2/auth', anonymousPull: true, expiresIn: 3600 },
  tags: { defaultPageSize: 50, link: 'opaque-cursor' },
  artifactTypes: [
    'application/vnd.cncf.helm.config.v1+json',
    'application/vnd.dev.cosign.simplesigning.v1+json',
    'application/vnd.dsse.envelope.v1+json',
    'text/spdx',
    'text/spdx+xml',
    'text/spdx+json',
    'application/vnd.syft+json',
    'application/vnd.cyclonedx',
    'application/vnd.cyclonedx+xml',
    'application/vnd.cyclonedx+json',
    'application/vnd.in-toto+json',
    'application/vnd.cncf.openpolicyagent.policy.layer.v1+rego',
  ],
  blobRedirect: { status: 302 },
};

/** CNCF distribution 2.8 with its default configuration (what Debian's `docker-registry` runs). */
const distribution: QuirkProfile = {
  name: 'distribution',
  title: 'CNCF distribution 2.8',
  description:
    'Deletes disabled (405 UNSUPPORTED) as storage.delete.enabled defaults to false; no referrers API (404 "404 page not found", text); no ?tag= on pushes, no single-request POST uploads (202 and a session), no mount without from; an OCI manifest or index answered only to an Accept that names it (404 MANIFEST_UNKNOWN otherwise); tag lists ignore n and last and come unsorted; _catalog refuses n > 1000 with 400 PAGINATION_NUMBER_INVALID and pages by 100 by default.',
  sources: [
    'https://distribution.github.io/distribution/about/configuration/#delete',
    'https://github.com/oras-project/rust-oci-client/pull/259',
    'https://gitlab.com/gitlab-org/gitlab-foss/merge_requests/31127',
    'https://github.com/distribution/distribution/pull/3143',
  ],
  features: {
    deleteManifests: false,
    deleteTags: false,
    deleteBlobs: false,
    automaticMount: false,
    tagsOnPush: false,
    monolithicPost: false,
  },
  referrers: 'unsupported',
  strictAccept: true,
  tags: { ignored: true, order: 'unsorted' },
  catalog: { maxPageSize: 1000, defaultPageSize: 100 },
};

/** Harbor: every repository lives in a project; token authentication at `/service/token`. */
const harbor: QuirkProfile = {
  name: 'harbor',
  title: 'Harbor',
  description:
    'Bearer tokens from /service/token (anonymous pulls of public projects); pushes only into an existing project: a repository needs at least two path components, the first a project (library exists), else 404 NAME_UNKNOWN; referrers API supported (since 2.8).',
  sources: [
    'https://github.com/goharbor/harbor/issues/19814',
    'https://github.com/goharbor/harbor/issues/16183',
    'https://github.com/goharbor/harbor/issues/1385',
    'https://github.com/goharbor/harbor/issues/17928',
  ],
  auth: {
    scheme: 'bearer',
    service: 'harbor-registry',
    realmPath: '/service/token',
    anonymousPull: true,
    expiresIn: 1800,
  },
  repositories: 'projects',
};

/** zot: OCI media types only; Docker manifests are refused. */
const zot: QuirkProfile = {
  name: 'zot',
  title: 'zot',
  description:
    'Only OCI manifests and indexes are accepted; a Docker schema 2 manifest or manifest list gets 400 MANIFEST_INVALID with the media type in detail (unless zot runs with compat: docker2s2); referrers API supported.',
  sources: [
    'https://github.com/project-zot/zot/issues/724',
    'https://github.com/project-zot/zot/issues/2234',
    'https://github.com/knative/func/issues/2721',
  ],
  manifestMediaTypes: [OCI_MANIFEST, OCI_INDEX],
};

/**
 * Quirk profiles of widely used registries, each reproducing documented behaviour (see each
 * profile's `sources`). Pass one (or several, later ones overriding) as `quirks`.
 */
export const profiles = {
  dockerhub,
  ecr,
  gar,
  ghcr,
  acr,
  quay,
  distribution,
  harbor,
  zot,
} as const satisfies Record<string, QuirkProfile>;

/** The name of a built-in profile. */
export type ProfileName = keyof typeof profiles;
