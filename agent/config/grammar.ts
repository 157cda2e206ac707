// The command-matching engine shared by configuration files, the control API and
// the serial console. A grammar is a table of command specs (token sequences plus
// optional keyword/value options); this module matches a line against it with
// unique-prefix abbreviations and `no` forms, and answers the console's questions
// (`?`: what may come next; TAB: complete this word). Errors carry the index and
// column of the offending word so the console can draw a caret under it.
import { TandemError } from "../errors.ts";

export interface KeywordToken { kind: "keyword"; word: string; help: string }
export interface ChoiceToken {
  kind: "choice";
  key: string;
  choices: { word: string; help: string }[];
  /** What the value is, for the refusal of a word that is none of the choices. */
  what: string;
}
export interface ValueToken {
  kind: "value";
  key: string;
  /** How the value shows in help: `A.B.C.D`, `<1-65535>`, `WORD`. */
  name: string;
  help: string;
  /** Returns the parsed value or throws TandemError("badInput") with the reason. */
  parse(text: string): unknown;
}
export type Token = KeywordToken | ChoiceToken | ValueToken;

export interface OptionSpec { keyword: string; help: string; value: ValueToken }

export interface CommandSpec<A> {
  id: string;
  tokens: Token[];
  /** Optional `keyword value` pairs after the tokens, any order, each at most once. */
  options?: OptionSpec[];
  /** Number of leading tokens the `no` form needs; absent: no `no` form. */
  noTokens?: number;
  action: A;
}

export interface Match<A> {
  spec: CommandSpec<A>;
  negated: boolean;
  values: Record<string, unknown>;
  /** The line with every abbreviation expanded. */
  canonical: string;
}

export type GrammarErrorKind = "ambiguous" | "unrecognized" | "incomplete" | "invalid";

export class GrammarError extends TandemError {
  constructor(
    readonly kind: GrammarErrorKind,
    message: string,
    /** Index of the offending word (words.length for "incomplete"). */
    readonly wordIndex: number,
    /** Column of the offending word in the line (line length for "incomplete"). */
    readonly column: number,
  ) {
    super("badInput", message, { kind, wordIndex, column });
  }
}

export interface Word { text: string; column: number }

/** Longest line the matcher accepts (a named bound: a console or file line). */
export const lineCharsMax = 1024;

/** Splits a line into words with their columns; `#` at the start of a word begins a comment. */
export function splitWords(line: string): Word[] {
  const words: Word[] = [];
  const re = /\S+/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    if (m[0].startsWith("#")) break;
    words.push({ text: m[0], column: m.index });
  }
  return words;
}

const noToken: KeywordToken = { kind: "keyword", word: "no", help: "Negate a command or set its default" };

interface Candidate<A> {
  spec: CommandSpec<A>;
  negated: boolean;
  /** Next positional token; -1 = expecting the leading `no`. */
  pos: number;
  used: number[];
  /** Option whose value comes next, or -1. */
  pending: number;
  values: Record<string, unknown>;
  words: string[];
}

interface Edge<A> {
  from: Candidate<A>;
  token: Token;
  /** Option index when this edge is an option keyword. */
  option: number;
  /** Whether this edge is an option's value. */
  optionValue: boolean;
}

function edgesOf<A>(c: Candidate<A>): Edge<A>[] {
  if (c.pos === -1) return [{ from: c, token: noToken, option: -1, optionValue: false }];
  if (c.pending >= 0) return [{ from: c, token: c.spec.options![c.pending]!.value, option: c.pending, optionValue: true }];
  if (c.pos < c.spec.tokens.length) return [{ from: c, token: c.spec.tokens[c.pos]!, option: -1, optionValue: false }];
  const edges: Edge<A>[] = [];
  (c.spec.options ?? []).forEach((o, i) => {
    if (!c.used.includes(i)) edges.push({ from: c, token: { kind: "keyword", word: o.keyword, help: o.help }, option: i, optionValue: false });
  });
  return edges;
}

function isComplete<A>(c: Candidate<A>): boolean {
  if (c.pos === -1 || c.pending >= 0) return false;
  return c.negated ? c.pos >= (c.spec.noTokens ?? 0) : c.pos >= c.spec.tokens.length;
}

function advance<A>(edge: Edge<A>, word: string, value: unknown): Candidate<A> {
  const c = edge.from;
  const next: Candidate<A> = { ...c, words: [...c.words, word] };
  if (c.pos === -1) return { ...next, pos: 0 };
  if (edge.optionValue) return { ...next, pending: -1, values: { ...c.values, [(edge.token as ValueToken).key]: value } };
  if (edge.option >= 0) return { ...next, pending: edge.option, used: [...c.used, edge.option] };
  const token = edge.token;
  const values = token.kind === "keyword" ? c.values : { ...c.values, [token.key]: value };
  return { ...next, pos: c.pos + 1, values };
}

/** The words an edge may be completed to (keywords and choices); values have none. */
function edgeWords(token: Token): { word: string; help: string }[] {
  if (token.kind === "keyword") return [{ word: token.word, help: token.help }];
  if (token.kind === "choice") return token.choices;
  return [];
}

export interface HelpItem { word: string; help: string }

export class Grammar<A> {
  constructor(readonly specs: CommandSpec<A>[]) {}

  private initial(): Candidate<A>[] {
    const out: Candidate<A>[] = [];
    for (const spec of this.specs) {
      out.push({ spec, negated: false, pos: 0, used: [], pending: -1, values: {}, words: [] });
      if (spec.noTokens !== undefined) out.push({ spec, negated: true, pos: -1, used: [], pending: -1, values: {}, words: [] });
    }
    return out;
  }

  /** Consumes `words` from the start; throws GrammarError at the first word that does not fit. */
  private walk(words: Word[]): Candidate<A>[] {
    let cands = this.initial();
    words.forEach((w, i) => {
      const text = w.text.toLowerCase();
      const edges = cands.flatMap(edgesOf);
      const exact: Edge<A>[] = [];
      const prefixed = new Map<string, Edge<A>[]>();
      for (const e of edges) {
        for (const { word } of edgeWords(e.token)) {
          if (word === text) exact.push(e);
          else if (word.startsWith(text)) prefixed.set(word, [...(prefixed.get(word) ?? []), e]);
        }
      }
      if (exact.length > 0) {
        cands = exact.map((e) => advance(e, text, text));
        return;
      }
      if (prefixed.size > 1) {
        const options = [...prefixed.keys()].sort().join(", ");
        throw new GrammarError("ambiguous", `Ambiguous command: '${w.text}' could be ${options}`, i, w.column);
      }
      if (prefixed.size === 1) {
        const [word, list] = [...prefixed.entries()][0]!;
        cands = list.map((e) => advance(e, word, word));
        return;
      }
      const valueEdges = edges.filter((e) => e.token.kind === "value");
      if (valueEdges.length === 0) {
        // Where only a choice fits, the word is a bad value of this command, not another command.
        const choiceTokens = edges.map((e) => e.token).filter((t): t is ChoiceToken => t.kind === "choice");
        if (choiceTokens.length > 0 && choiceTokens.length === edges.length) {
          const words = [...new Set(choiceTokens.flatMap((t) => t.choices.map((c) => c.word)))].sort();
          throw new GrammarError("invalid", `Invalid ${choiceTokens[0]!.what} '${w.text}': must be ${words.join(" or ")}`, i, w.column);
        }
        throw new GrammarError("unrecognized", `Unrecognized command at '${w.text}'`, i, w.column);
      }
      const ok: Candidate<A>[] = [];
      let firstError: unknown = null;
      for (const e of valueEdges) {
        try {
          ok.push(advance(e, w.text, (e.token as ValueToken).parse(w.text)));
        } catch (err) {
          firstError ??= err;
        }
      }
      if (ok.length === 0) {
        const reason = firstError instanceof Error ? firstError.message : String(firstError);
        throw new GrammarError("invalid", reason, i, w.column);
      }
      cands = ok;
    });
    return cands;
  }

  /** Matches a whole line. Returns null for a blank or comment-only line. */
  match(line: string): Match<A> | null {
    if (line.length > lineCharsMax) {
      throw new GrammarError("invalid", `Line too long (${line.length} characters, at most ${lineCharsMax})`, 0, 0);
    }
    const words = splitWords(line);
    if (words.length === 0) return null;
    const cands = this.walk(words);
    const complete = cands.filter(isComplete);
    if (complete.length === 0) {
      throw new GrammarError("incomplete", "Incomplete command", words.length, line.trimEnd().length);
    }
    const best = complete[0]!;
    return { spec: best.spec, negated: best.negated, values: best.values, canonical: best.words.join(" ") };
  }

  /** What may come next after `line` (the console's `?`). A trailing partial word
   *  lists only the words it could complete to. Throws GrammarError if the part
   *  before does not match. */
  help(line: string): { items: HelpItem[]; canEnd: boolean } {
    const { done, partial } = splitForCompletion(line);
    const cands = this.walk(done);
    const edges = cands.flatMap(edgesOf);
    const seen = new Set<string>();
    const items: HelpItem[] = [];
    const add = (word: string, help: string) => {
      if (seen.has(word)) return;
      seen.add(word);
      items.push({ word, help });
    };
    for (const e of edges) {
      for (const c of edgeWords(e.token)) if (c.word.startsWith(partial.toLowerCase())) add(c.word, c.help);
    }
    items.sort((a, b) => a.word.localeCompare(b.word));
    const keywordCount = items.length;
    for (const e of edges) {
      if (e.token.kind === "value" && (partial === "" || keywordCount === 0)) add(e.token.name, e.token.help);
    }
    const canEnd = partial === "" && cands.some(isComplete);
    return { items, canEnd };
  }

  /** TAB: the text to append to `line` to complete its last word (empty if none
   *  or ambiguous beyond the common prefix), and the candidate words. */
  complete(line: string): { append: string; words: string[] } {
    const { done, partial } = splitForCompletion(line);
    let cands: Candidate<A>[];
    try {
      cands = this.walk(done);
    } catch {
      return { append: "", words: [] };
    }
    const lower = partial.toLowerCase();
    const words = [...new Set(cands.flatMap(edgesOf).flatMap((e) => edgeWords(e.token)).map((c) => c.word))]
      .filter((w) => w.startsWith(lower)).sort();
    if (words.length === 0) return { append: "", words };
    if (words.length === 1) return { append: words[0]!.slice(partial.length) + " ", words };
    let common = words[0]!;
    for (const w of words) while (!w.startsWith(common)) common = common.slice(0, -1);
    return { append: common.slice(partial.length), words };
  }
}

function splitForCompletion(line: string): { done: Word[]; partial: string } {
  const words = splitWords(line);
  if (words.length === 0 || /\s$/.test(line)) return { done: words, partial: "" };
  return { done: words.slice(0, -1), partial: words[words.length - 1]!.text };
}
