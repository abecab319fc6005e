/** Window maths of a virtualised list: which rows to put in the DOM for a scroll position. */

export interface VirtualWindow {
  /** First row index to render (inclusive). */
  start: number;
  /** Last row index to render (exclusive). */
  end: number;
  /** Offset in pixels of row `start` from the top of the list. */
  offsetPx: number;
  /** Height in pixels of all rows together. */
  totalPx: number;
}

export function virtualWindow(
  rowCount: number,
  rowHeightPx: number,
  scrollTopPx: number,
  viewportPx: number,
  overscan = 5,
): VirtualWindow {
  const totalPx = rowCount * rowHeightPx;
  if (rowCount === 0 || rowHeightPx <= 0) return { start: 0, end: 0, offsetPx: 0, totalPx: 0 };
  const maxScroll = Math.max(0, totalPx - viewportPx);
  const top = Math.min(Math.max(0, scrollTopPx), maxScroll);
  const first = Math.floor(top / rowHeightPx);
  const visible = Math.ceil(viewportPx / rowHeightPx) + 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(rowCount, first + visible + overscan);
  return { start, end, offsetPx: start * rowHeightPx, totalPx };
}

/** The scrollTop that brings row `index` into view, or `null` when it already is. */
export function scrollToRow(index: number, rowHeightPx: number, scrollTopPx: number, viewportPx: number): number | null {
  const top = index * rowHeightPx;
  const bottom = top + rowHeightPx;
  if (top < scrollTopPx) return top;
  if (bottom > scrollTopPx + viewportPx) return bottom - viewportPx;
  return null;
}
