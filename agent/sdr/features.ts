// Resemblance detection: super-features of a segment (Shilane et al., "WAN optimized
// replication of backup datasets using stream-informed delta compression"). A gear
// rolling hash runs over the segment; at content-defined sample points (about one
// byte in 64) twelve linear transforms of the hash keep their maximum; each group of
// four maxima hashes into one super-feature. Two segments sharing any super-feature
// are very likely similar, so one of them is a good delta base for the other.

export const superFeatureCount = 3;
const featuresPerSuper = 4;
const featureCount = superFeatureCount * featuresPerSuper;
/** Segments shorter than this are not worth a delta. */
export const resemblanceBytesMin = 256;

function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

const random = xorshift32(0x5d2a7c31);
const gear = new Int32Array(256).map(() => random() | 0);
const multipliers = new Int32Array(featureCount).map(() => random() | 1);
const addends = new Int32Array(featureCount).map(() => random() | 0);

/** The segment's super-features, or undefined when it is too short to have useful ones. */
export function superFeatures(data: Uint8Array): Uint32Array | undefined {
  if (data.length < resemblanceBytesMin) return undefined;
  const maxima = new Uint32Array(featureCount);
  let h = 0;
  let sampled = 0;
  for (let i = 0; i < data.length; i++) {
    h = ((h << 1) + gear[data[i]!]!) | 0;
    // The top bits of a gear hash depend on the last 32 bytes (the low bits on fewer).
    if (h >>> 26 !== 0) continue;
    sampled++;
    for (let j = 0; j < featureCount; j++) {
      const v = (Math.imul(h, multipliers[j]!) + addends[j]!) >>> 0;
      if (v > maxima[j]!) maxima[j] = v;
    }
  }
  if (sampled < featuresPerSuper) return undefined;
  const supers = new Uint32Array(superFeatureCount);
  for (let s = 0; s < superFeatureCount; s++) {
    let x = 0x811c9dc5 ^ s;
    for (let j = 0; j < featuresPerSuper; j++) x = Math.imul(x ^ maxima[s * featuresPerSuper + j]!, 0x01000193);
    supers[s] = x >>> 0;
  }
  return supers;
}
