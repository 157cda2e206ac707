// Line input for the console on a serial line or a terminal. On a capable terminal
// (raw mode) it edits the line itself: backspace, ctrl-U (erase line), ctrl-W (erase
// word), ctrl-A/ctrl-E and left/right arrows, ctrl-C (abandon line), ctrl-D (leave on
// an empty line), ctrl-V (insert the next key literally), up/down history, `?` for
// help and TAB for completion, with VT100 cursor sequences only. On a dumb terminal (TERM=dumb, or input that is not a
// terminal) it reads plain lines: a line ending in `?` asks for help instead.
// Output is 7-bit text with CR LF line ends in raw mode.

/** Lines kept in the history. */
export const historyLinesMax = 100;
/** Longest line the editor accepts; further keys are refused with a bell. */
export const editLineCharsMax = 1000;
/** Bytes of type-ahead kept while a command runs. */
export const typeAheadBytesMax = 64 * 1024;

export interface LineHandlers {
  /** `?` pressed: print help for the line so far (the editor redraws after). */
  help(line: string): void;
  /** TAB: what to append and the candidates when ambiguous. */
  complete(line: string): { append: string; words: string[] };
}

export interface TerminalOptions {
  /** Raw-mode editing (false: plain line reading). */
  smart: boolean;
  /** Writes text to the terminal as is. */
  writeRaw(text: string): void;
  /** Plain mode without a terminal echoing input (a pipe): end each prompt's line ourselves. */
  newlineAfterPlainLine?: boolean;
}

type Waiter = { prompt: string; handlers: LineHandlers | null; resolve(line: string | null): void };

export class LineEditor {
  private queue: number[] = [];
  private ended = false;
  private waiter: Waiter | null = null;
  private line = "";
  private cursor = 0;
  private history: string[] = [];
  private historyAt = 0;
  private escape: number[] | null = null;
  private lastCr = false;
  /** Ctrl-V was pressed: the next key is inserted as is (e.g. a `?` in a secret). */
  private literalNext = false;

  constructor(private readonly options: TerminalOptions) {}

  /** Writes console text (LF line ends become CR LF in raw mode). */
  write(text: string): void {
    this.options.writeRaw(this.options.smart ? text.replace(/\r?\n/g, "\r\n") : text);
  }

  /** Feeds input bytes from the terminal. */
  feed(chunk: Uint8Array): void {
    for (const b of chunk) {
      if (this.queue.length < typeAheadBytesMax) this.queue.push(b);
    }
    this.pump();
  }

  /** True (once) if a key arrived while no line was being read; the keys are dropped.
   *  Long-running displays (`datastore sync watch`) stop on any key this way. */
  takeInterrupt(): boolean {
    // Plain input may be a script: its queued lines are commands, not interrupts.
    if (!this.options.smart || this.waiter || this.queue.length === 0) return false;
    this.queue = [];
    return true;
  }

  /** Input ended (device closed, stdin EOF). */
  end(): void {
    this.ended = true;
    this.pump();
  }

  /** Reads one line; null at end of input. */
  readLine(prompt: string, handlers: LineHandlers | null): Promise<string | null> {
    return new Promise((resolve) => {
      this.waiter = { prompt, handlers, resolve };
      this.line = "";
      this.cursor = 0;
      this.historyAt = this.history.length;
      this.write(prompt);
      this.pump();
    });
  }

  private finish(value: string | null): void {
    const w = this.waiter!;
    this.waiter = null;
    if (value !== null && value.trim() !== "" && w.handlers && this.history[this.history.length - 1] !== value) {
      this.history.push(value);
      if (this.history.length > historyLinesMax) this.history.shift();
    }
    w.resolve(value);
  }

  private pump(): void {
    while (this.waiter && this.queue.length > 0) {
      const b = this.queue.shift()!;
      if (this.options.smart) this.key(b);
      else this.plain(b);
    }
    if (this.waiter && this.queue.length === 0 && this.ended) {
      if (!this.options.smart && this.line.length > 0) {
        const line = this.line;
        this.line = "";
        this.finishPlain(line);
      } else this.finish(null);
    }
  }

  // --- dumb terminal: lines as they come (the terminal driver echoes) -------------
  private plain(b: number): void {
    if (b === 0x0d || b === 0x0a) {
      if (b === 0x0a && this.lastCr) { this.lastCr = false; return; }
      this.lastCr = b === 0x0d;
      const line = this.line;
      this.line = "";
      if (this.options.newlineAfterPlainLine) this.write("\n");
      this.finishPlain(line);
      return;
    }
    this.lastCr = false;
    if (b >= 0x20 && b <= 0x7e && this.line.length < editLineCharsMax) this.line += String.fromCharCode(b);
    else if (b === 0x09) this.line += " ";
  }

  private finishPlain(line: string): void {
    const w = this.waiter!;
    if (w.handlers && line.trimEnd().endsWith("?")) {
      w.handlers.help(line.trimEnd().slice(0, -1));
      this.write(w.prompt);
      return;
    }
    this.finish(line);
  }

  // --- raw mode: our own line editing ---------------------------------------------
  private redraw(): void {
    const w = this.waiter!;
    const back = this.line.length - this.cursor;
    this.options.writeRaw(`\r${w.prompt}${this.line}\x1b[K${back > 0 ? `\x1b[${back}D` : ""}`);
  }

  private bell(): void {
    this.options.writeRaw("\x07");
  }

  private insert(text: string): void {
    if (this.line.length + text.length > editLineCharsMax) { this.bell(); return; }
    this.line = this.line.slice(0, this.cursor) + text + this.line.slice(this.cursor);
    this.cursor += text.length;
    if (this.cursor === this.line.length) this.options.writeRaw(text);
    else this.redraw();
  }

  private key(b: number): void {
    const w = this.waiter!;
    if (this.escape) {
      this.escape.push(b);
      const seq = String.fromCharCode(...this.escape);
      if (/^\x1b[\[O][0-9;]*[A-Za-z~]$/.test(seq) || this.escape.length > 8 || (this.escape.length === 2 && b !== 0x5b && b !== 0x4f)) {
        this.escape = null;
        this.escapeKey(seq);
      }
      return;
    }
    if (this.literalNext) {
      this.literalNext = false;
      if (b >= 0x20 && b <= 0x7e) this.insert(String.fromCharCode(b));
      else this.bell();
      return;
    }
    switch (b) {
      case 0x16: this.literalNext = true; return;
      case 0x1b: this.escape = [b]; return;
      case 0x0d: case 0x0a: {
        if (b === 0x0a && this.lastCr) { this.lastCr = false; return; }
        this.lastCr = b === 0x0d;
        this.write("\n");
        this.finish(this.line);
        return;
      }
      case 0x7f: case 0x08:
        if (this.cursor === 0) { this.bell(); return; }
        this.line = this.line.slice(0, this.cursor - 1) + this.line.slice(this.cursor);
        this.cursor--;
        if (this.cursor === this.line.length) this.options.writeRaw("\b \b");
        else this.redraw();
        return;
      case 0x15: this.line = this.line.slice(this.cursor); this.cursor = 0; this.redraw(); return;
      case 0x17: {
        const before = this.line.slice(0, this.cursor).replace(/\S*\s*$/, "");
        this.line = before + this.line.slice(this.cursor);
        this.cursor = before.length;
        this.redraw();
        return;
      }
      case 0x01: this.cursor = 0; this.redraw(); return;
      case 0x05: this.cursor = this.line.length; this.redraw(); return;
      case 0x03: this.write("^C\n"); this.finish(""); return;
      case 0x04:
        if (this.line.length === 0) { this.write("\n"); this.finish(null); } else this.bell();
        return;
      case 0x0c: this.write("\x1b[H\x1b[2J"); this.redraw(); return;
      case 0x09: this.tab(); return;
    }
    this.lastCr = false;
    if (b === 0x3f && w.handlers) {
      this.write("?\n");
      w.handlers.help(this.line.slice(0, this.cursor));
      this.redraw();
      return;
    }
    if (b >= 0x20 && b <= 0x7e) this.insert(String.fromCharCode(b));
  }

  private tab(): void {
    const w = this.waiter!;
    if (!w.handlers || this.cursor !== this.line.length) { this.bell(); return; }
    const { append, words } = w.handlers.complete(this.line);
    if (append) { this.insert(append); return; }
    if (words.length > 1) {
      this.write("\n" + words.join("  ") + "\n");
      this.redraw();
      return;
    }
    this.bell();
  }

  private escapeKey(seq: string): void {
    const final = seq[seq.length - 1];
    if (final === "A" || final === "B") {
      if (this.history.length === 0) { this.bell(); return; }
      this.historyAt = Math.max(0, Math.min(this.history.length, this.historyAt + (final === "A" ? -1 : 1)));
      this.line = this.history[this.historyAt] ?? "";
      this.cursor = this.line.length;
      this.redraw();
    } else if (final === "C") {
      if (this.cursor < this.line.length) { this.cursor++; this.options.writeRaw("\x1b[C"); }
    } else if (final === "D") {
      if (this.cursor > 0) { this.cursor--; this.options.writeRaw("\x1b[D"); }
    } else if (seq === "\x1b[3~") {
      if (this.cursor < this.line.length) {
        this.line = this.line.slice(0, this.cursor) + this.line.slice(this.cursor + 1);
        this.redraw();
      }
    } else if (final === "H") { this.cursor = 0; this.redraw(); } else if (final === "F") { this.cursor = this.line.length; this.redraw(); }
  }
}
