// Shared buffers kept for reuse by the store's worker hops (prep: packed segments;
// verify: laid-out values). A fresh buffer of a few MiB costs a page fault per 4 KiB on
// first touch, and zeroing: measured at ~10 us per 10 KB segment on the encoder path,
// as much as its LMDB puts. A kept one costs neither. Shared (SharedArrayBuffer) so the
// worker reads it without a copy; only the owning thread writes it, and only before the
// worker is asked or after its answer (a late answer past the job timeout is ignored,
// so a late read of a reused buffer can change nothing).

export class SharedBufferPool {
  private readonly kept: SharedArrayBuffer[] = [];

  /** `countMax` buffers of at most `bufferBytesMax` are kept; new ones are rounded up to
   *  `grainBytes`, so that batches of slightly different sizes reuse them. */
  constructor(private readonly countMax: number, private readonly bufferBytesMax: number, private readonly grainBytes: number) {}

  /** A buffer of at least `bytes`, kept or new (contents undefined). */
  take(bytes: number): SharedArrayBuffer {
    const i = this.kept.findIndex((b) => b.byteLength >= bytes);
    if (i >= 0) return this.kept.splice(i, 1)[0]!;
    return new SharedArrayBuffer(Math.max(this.grainBytes, Math.ceil(bytes / this.grainBytes) * this.grainBytes));
  }

  /** Gives a buffer back once nothing reads it any more; once per take (a buffer kept
   *  twice would be handed to two batches at once, which the check below prevents). */
  give(buffer: ArrayBufferLike): void {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength > this.bufferBytesMax || this.kept.length >= this.countMax) return;
    if (!this.kept.includes(buffer)) this.kept.push(buffer);
  }
}
