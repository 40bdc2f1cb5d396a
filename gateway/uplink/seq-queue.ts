/**
 * A FIFO of sequence numbers with O(1) push and shift (an array with a moving
 * head, compacted now and then). Entries may go stale (acknowledged or shed
 * meanwhile): readers skip them with `nextWhere`.
 */
export class SeqQueue {
  private items: number[] = [];
  private head = 0;

  constructor(initial: Iterable<number> = []) {
    this.items = [...initial];
  }

  get length(): number {
    return this.items.length - this.head;
  }

  push(seq: number): void {
    this.items.push(seq);
  }

  /** Removes stale entries from the front and returns the first one `valid` accepts, without removing it. */
  peekWhere(valid: (seq: number) => boolean): number | undefined {
    while (this.head < this.items.length) {
      const seq = this.items[this.head]!;
      if (valid(seq)) return seq;
      this.head++;
    }
    this.compact();
    return undefined;
  }

  shift(): number | undefined {
    if (this.head >= this.items.length) return undefined;
    const seq = this.items[this.head++];
    this.compact();
    return seq;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
