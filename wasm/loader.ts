// Loads the hot-path WASM module once per process and owns its memory arena.
// Kernels in wasm/assembly take raw pointers; callers reserve space in the arena with
// `arena.reserve`, copy input in once, call the kernel, and read results through
// views. Calls are synchronous, so one arena per process is enough: a reservation
// lives until the next `arena.reset()` (each public wrapper resets on entry).
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";

/** Largest arena the loader will grow to; a bigger request is a programmer error. */
export const arenaBytesMax = 512 * 1024 * 1024;
const wasmPageBytes = 65536;

// In a checkout this file is wasm/loader.ts; in the appliance image it is bundled into
// /opt/tandem/agent/main.js, next to /opt/tandem/wasm/build/.
const wasmPathCandidates = [
  join(import.meta.dir, "build", "tandem.wasm"),
  join(import.meta.dir, "..", "wasm", "build", "tandem.wasm"),
];
export const wasmPath = wasmPathCandidates.find((path) => existsSync(path)) ?? wasmPathCandidates[0]!;

function loadModuleBytes(): Uint8Array<ArrayBuffer> {
  if (!existsSync(wasmPath)) {
    throw new Error(`WASM module missing at ${wasmPath}: run \`npm run build:wasm\` (npm start and npm test build it first)`);
  }
  return new Uint8Array(readFileSync(wasmPath));
}

const wasmModule = new WebAssembly.Module(loadModuleBytes());
const wasmInstance = new WebAssembly.Instance(wasmModule, {
  env: {
    abort(_msg: number, _file: number, line: number, column: number) {
      throw new Error(`WASM abort at line ${line}:${column}`);
    },
  },
});
(wasmInstance.exports._initialize as (() => void) | undefined)?.();

/** The module's exports, typed loosely; wrappers in wasm/*.ts give them types. */
export const kernels = wasmInstance.exports as Record<string, any>;
const memory = kernels.memory as WebAssembly.Memory;

class Arena {
  readonly basePtr: number = kernels.arenaBase();
  private nextPtr = this.basePtr;
  private bytesCache: Uint8Array = new Uint8Array(memory.buffer);

  /** Forgets every reservation. */
  reset(): void {
    this.nextPtr = this.basePtr;
  }

  /** Reserves `bytes` (16-byte aligned) and returns its pointer; grows memory when needed. */
  reserve(bytes: number): number {
    const ptr = this.nextPtr;
    const end = ptr + ((bytes + 15) & ~15);
    if (end - this.basePtr > arenaBytesMax) throw new RangeError(`arena request of ${bytes} bytes exceeds arenaBytesMax`);
    if (end > memory.buffer.byteLength) {
      memory.grow(Math.ceil((end - memory.buffer.byteLength) / wasmPageBytes));
    }
    this.nextPtr = end;
    return ptr;
  }

  /** Copies `data` into a fresh reservation and returns its pointer. */
  put(data: Uint8Array): number {
    const ptr = this.reserve(data.length);
    this.bytes().set(data, ptr);
    return ptr;
  }

  /** A byte view of the whole memory; re-taken after growth, so never keep it across calls. */
  bytes(): Uint8Array {
    if (this.bytesCache.buffer !== memory.buffer) this.bytesCache = new Uint8Array(memory.buffer);
    return this.bytesCache;
  }

  /** A copy of `length` bytes at `ptr`, safe to keep. */
  copyOut(ptr: number, length: number): Uint8Array {
    return this.bytes().slice(ptr, ptr + length);
  }

  /** A view of `length` bytes at `ptr`, valid only until the next call into the arena. */
  view(ptr: number, length: number): Uint8Array {
    return this.bytes().subarray(ptr, ptr + length);
  }
}

export const arena = new Arena();
