/**
 * When each class started playing on a simulator, so a result can be scored against the class that was playing
 * when its window was captured. Windows that straddle a change are not scored (their true class is mixed).
 */
export class ClassTimeline {
  private readonly changes: { ts: number; label: number }[] = [];

  note(ts: number, label: number): void {
    const last = this.changes.at(-1);
    if (last === undefined || last.label !== label) this.changes.push({ ts, label });
  }

  /** The class playing during all of [fromTs, toTs], or undefined when it changed in between or is unknown. */
  labelDuring(fromTs: number, toTs: number): number | undefined {
    let label: number | undefined;
    for (const change of this.changes) {
      if (change.ts <= fromTs) label = change.label;
      else if (change.ts <= toTs) return undefined;
      else break;
    }
    return label;
  }
}
