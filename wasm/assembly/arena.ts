// Tells the loader where the free memory starts: everything from __heap_base up is
// the loader's arena for inputs and outputs of batch calls.
export function arenaBase(): usize {
  return (__heap_base + 15) & ~15;
}
