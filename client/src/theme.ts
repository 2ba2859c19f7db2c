import type { ITerminalOptions } from '@xterm/xterm';

export const MONO_FONT =
  '"JetBrains Mono", "Cascadia Mono", "Fira Code", "SF Mono", Menlo, Monaco, Consolas, "Ubuntu Mono", "DejaVu Sans Mono", "Liberation Mono", "Noto Sans Mono", monospace';

export const TERMINAL_OPTIONS: ITerminalOptions = {
  fontFamily: MONO_FONT,
  fontSize: 14,
  lineHeight: 1.15,
  cursorBlink: true,
  cursorStyle: 'block',
  cursorInactiveStyle: 'outline',
  scrollback: 5000,
  // Unicode 11 widths and search decorations are "proposed" APIs of xterm.js.
  allowProposedApi: true,
  macOptionIsMeta: true,
  drawBoldTextInBrightColors: true,
  minimumContrastRatio: 1,
  theme: {
    background: '#0d1017',
    foreground: '#d7dce6',
    cursor: '#6ea8fe',
    cursorAccent: '#0d1017',
    selectionBackground: '#2b4a76',
    selectionInactiveBackground: '#243044',
    scrollbarSliderBackground: 'rgba(138, 147, 166, 0.25)',
    scrollbarSliderHoverBackground: 'rgba(138, 147, 166, 0.4)',
    scrollbarSliderActiveBackground: 'rgba(138, 147, 166, 0.55)',
    black: '#1c212b',
    red: '#f47067',
    green: '#8ddb8c',
    yellow: '#e0c270',
    blue: '#6cb6ff',
    magenta: '#dcbdfb',
    cyan: '#76e3ea',
    white: '#c5ccd8',
    brightBlack: '#636e83',
    brightRed: '#ff938a',
    brightGreen: '#b4f1b4',
    brightYellow: '#f5dc8f',
    brightBlue: '#96d0ff',
    brightMagenta: '#eedcff',
    brightCyan: '#b3f0ff',
    brightWhite: '#f0f3f6',
  },
};
