// Reads a Prometheus text exposition (what /metrics answers) for assertions.

export interface Scrape {
  /** The value of one series (labels must match exactly, in any order); undefined if absent. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** The sum over every series of a metric whose labels include `labels`. */
  sum(name: string, labels?: Record<string, string>): number;
  text: string;
}

const SERIES = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheus(text: string): Scrape {
  const series: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(SERIES);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    series.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  const includes = (have: Record<string, string>, want: Record<string, string>) => Object.entries(want).every(([k, v]) => have[k] === v);
  return {
    text,
    value(name, labels = {}) {
      return series.find(
        (s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && includes(s.labels, labels),
      )?.value;
    },
    sum(name, labels = {}) {
      return series.filter((s) => s.name === name && includes(s.labels, labels)).reduce((n, s) => n + s.value, 0);
    },
  };
}

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`scrape of ${url} answered ${res.status}`);
  return parsePrometheus(await res.text());
}
