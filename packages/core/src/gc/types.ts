/** Options of `registry.gc()`. */
export interface GcOptions {
  /** Report what would be deleted without deleting anything. Default false. */
  readonly dryRun?: boolean;
  /**
   * Content younger than this (milliseconds) is never swept, so a push whose blobs arrive before
   * its manifest is safe. Default one hour.
   */
  readonly gracePeriod?: number;
  /** Also delete manifests no tag reaches (directly, through an index or as a referrer). Default false. */
  readonly deleteUntagged?: boolean;
  /**
   * Upload sessions idle longer than this (milliseconds) are removed with their staged data, and so
   * are the leftovers of crashed commits and cancels. Default 24 hours.
   */
  readonly uploadMaxAge?: number;
  /** Called as the collection advances. */
  readonly onProgress?: (progress: GcProgress) => void;
  /** Stops the collection between steps. */
  readonly signal?: AbortSignal;
}

/** Where a collection is. */
export interface GcProgress {
  readonly phase:
    | 'mark'
    | 'remark'
    | 'sweep-manifests'
    | 'sweep-links'
    | 'sweep-blobs'
    | 'uploads'
    | 'leftovers'
    | 'done';
  /** Items handled in this phase so far. */
  readonly done: number;
  /** Items in this phase, when known. */
  readonly total?: number;
}

/** What a collection kept and deleted (or, in a dry run, would delete). */
export interface GcReport {
  readonly dryRun: boolean;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly repositories: number;
  readonly kept: {
    readonly manifests: number;
    readonly links: number;
    readonly blobs: number;
    readonly uploads: number;
  };
  readonly deleted: {
    readonly manifests: ReadonlyArray<{ readonly repository: string; readonly digest: string }>;
    readonly links: ReadonlyArray<{ readonly repository: string; readonly digest: string }>;
    readonly blobs: ReadonlyArray<{ readonly digest: string; readonly size: number }>;
    readonly uploads: ReadonlyArray<{
      readonly id: string;
      readonly repository: string;
      readonly size: number;
    }>;
    /**
     * What crashed writers left outside any session (incomplete multipart uploads, a killed
     * commit's files), where the storage finds such things (`UploadStore.reapLeftovers`).
     */
    readonly leftovers: ReadonlyArray<{ readonly description: string; readonly size: number }>;
  };
  /** Bytes of deleted blobs, staged upload data and leftovers (where their size is known). */
  readonly bytesReclaimed: number;
}
