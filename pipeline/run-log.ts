/**
 * A run's log lines: what the engine said while a step of the run ran (binding, warnings), the rows
 * per table it loaded, its error and how long it took. The activities collect them per attempt and
 * keep them in the destination (`DestinationClient.appendRunLog`), so any process can read a run's
 * lines back (`tide runs <pipeline> --logs <run>`), whichever worker ran it.
 */
import type { TableCounts } from './counts.ts';

export type RunLogLevel = 'info' | 'warn' | 'error';

export interface RunLogLine {
  at: Date;
  level: RunLogLevel;
  /** The step of the run that said it: plan, run, extract, `extract <component>`, load. */
  step: string;
  /** The attempt of that step (1 = first try). */
  attempt: number;
  message: string;
}

/** The run a line belongs to: the Temporal run, and its load once one is known. */
export interface RunLogKey {
  pipelineName: string;
  workflowId: string;
  runId: string;
  loadId?: string | null;
}

/** A line as the destination keeps it: with the run it belongs to. */
export type StoredRunLogLine = RunLogLine & RunLogKey;

/** Lines a step hands back to the workflow for its Web UI details (the destination keeps them all). */
const RETURNED_LINES = 200;

/**
 * One attempt of one step of a run: its lines in the order they were said, and what it did (rows it
 * loaded, items it extracted, how it ended and how long it took) for the worker's metrics.
 */
export class StepLog {
  readonly lines: RunLogLine[] = [];
  /** The run's load, once known (a key of the kept lines). */
  loadId: string | null = null;
  /** Rows committed by this attempt, per table (none for a step that only stages). */
  loaded: TableCounts = {};
  items = 0;
  outcome?: 'done' | 'failed';
  /** The error class's name when the step failed. */
  errorType?: string;
  durationMs = 0;
  readonly #started = Date.now();

  /** `step`: plan, run, extract or load; a decomposed run's extract names its `component` too. */
  constructor(
    readonly step: string,
    readonly attempt: number,
    readonly component?: string,
  ) {}

  get name(): string {
    return this.component ? `${this.step} ${this.component}` : this.step;
  }

  info = (message: string): void => this.#add('info', message);
  warn = (message: string): void => this.#add('warn', message);

  /** One line per table with the rows the step loaded (or staged) into it. */
  tables(tables: TableCounts, verb: 'loaded' | 'staged'): void {
    for (const [t, c] of Object.entries(tables).sort(([a], [b]) => a.localeCompare(b))) this.info(`table ${t}: ${c.rows} rows ${verb}`);
  }

  failed(e: unknown): void {
    this.errorType = (e as Error)?.name ?? 'Error';
    this.#add('error', `${this.errorType}: ${(e as Error)?.message ?? String(e)}`);
  }

  /** Ends the step once (its closing line with the time it took); the lines as the Web UI shows them. */
  close(outcome: 'done' | 'failed'): string[] {
    if (!this.outcome) {
      this.outcome = outcome;
      this.durationMs = Date.now() - this.#started;
      this.#add(outcome === 'done' ? 'info' : 'error', `${this.name} ${outcome} in ${(this.durationMs / 1000).toFixed(3)} s`);
    }
    return this.lines.slice(-RETURNED_LINES).map(formatRunLogLine);
  }

  #add(level: RunLogLevel, message: string): void {
    this.lines.push({ at: new Date(), level, step: this.name, attempt: this.attempt, message });
  }
}

/** `2026-01-05T10:00:00.123Z INFO  run#1  message`: a line as `tide runs --logs` and the Web UI show it. */
export function formatRunLogLine(l: RunLogLine): string {
  return `${l.at.toISOString()} ${l.level.toUpperCase().padEnd(5)} ${`${l.step}#${l.attempt}`.padEnd(12)} ${l.message}`;
}
