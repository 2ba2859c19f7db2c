// Tells xterm.js's automatic answers to terminal queries apart from what the user types.
//
// Programs ask the terminal questions by writing escape sequences (vim sends DA1/DA2,
// OSC 10/11 colour queries, DECRQM, a cursor position request...). xterm.js answers by
// firing onData, exactly as if the answer had been typed, and its public API does not
// say which is which. It answers synchronously while parsing written output, from the
// parser's default handler for that sequence. So we register our own handler, which
// xterm runs first, for every sequence xterm answers: it notes "an answer is coming" and
// passes the sequence on (returns false). Parsing runs in its own task, never inside a
// keyboard, mouse or paste event, so the note is cleared in a microtask before any
// keystroke can be handled.
//
// Used for two rules (docs/protocol.md, "Terminal queries"):
// - output written from a replay never produces input (the question was answered when
//   it was first asked), and
// - only the device that controls the size answers live queries, so a query gets one
//   answer however many devices are attached.

import type { IFunctionIdentifier, Terminal } from '@xterm/xterm';

/** CSI sequences xterm.js answers (see its InputHandler). */
const CSI_QUERIES: IFunctionIdentifier[] = [
  { final: 'c' }, // DA1
  { prefix: '>', final: 'c' }, // DA2
  { final: 'n' }, // DSR, cursor position report
  { prefix: '?', final: 'n' }, // DEC DSR
  { intermediates: '$', final: 'p' }, // DECRQM (ANSI modes)
  { prefix: '?', intermediates: '$', final: 'p' }, // DECRQM (DEC modes)
  { final: 't' }, // window size reports (18t, 14t, 16t)
];
/** OSC colour commands: with "?" they are queries, answered with the colour. */
const OSC_COLOR_QUERIES = [4, 10, 11, 12];

export class QueryAnswers {
  private answering = false;

  constructor(term: Terminal) {
    const mark = (): boolean => {
      if (!this.answering) {
        this.answering = true;
        queueMicrotask(() => (this.answering = false));
      }
      return false; // let xterm's own handler answer
    };
    for (const id of CSI_QUERIES) term.parser.registerCsiHandler(id, mark);
    for (const ident of OSC_COLOR_QUERIES) term.parser.registerOscHandler(ident, (data) => (data.includes('?') ? mark() : false));
    term.parser.registerDcsHandler({ intermediates: '$', final: 'q' }, mark); // DECRQSS
  }

  /** True while xterm emits an answer to a query it is parsing (not user input). */
  get isAnswer(): boolean {
    return this.answering;
  }
}
