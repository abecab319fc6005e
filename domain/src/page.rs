//! Keyset pagination. Rows are ordered by their UUIDv7 id (creation order); a cursor is the
//! last id of the previous page, so pages stay stable while rows are added.

use uuid::Uuid;

pub const DEFAULT_LIMIT: u16 = 50;
pub const MAX_LIMIT: u16 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u16,
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub fn first(limit: u16) -> Self {
        Self { limit, after: None }
    }
}

/// A figure summed over every shard, and the shards that could not be read: it lacks their
/// share (see DESIGN §3), and says so instead of silently undercounting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Partial<T> {
    pub value: T,
    pub missing_shards: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The id to continue after, when more rows exist.
    pub next_after: Option<Uuid>,
    /// Shards that could not be read: the page lacks their rows (see DESIGN §3).
    pub missing_shards: Vec<u16>,
}

impl<T> Page<T> {
    /// Builds a page from rows sorted by id, fetched with `limit + 1` so that the extra row
    /// tells whether another page exists.
    pub fn from_sorted(mut rows: Vec<T>, limit: u16, id: impl Fn(&T) -> Uuid) -> Self {
        let limit = usize::from(limit);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_after = if more { rows.last().map(id) } else { None };
        Self {
            items: rows,
            next_after,
            missing_shards: Vec::new(),
        }
    }

    /// Merges pages fetched from several shards with the same request: a k-way merge of
    /// runs that are each sorted by id.
    pub fn merge(runs: Vec<Vec<T>>, limit: u16, id: impl Fn(&T) -> Uuid) -> Self {
        let mut all: Vec<T> = runs.into_iter().flatten().collect();
        all.sort_by_key(|row| id(row));
        Self::from_sorted(all, limit, id)
    }

    /// [`Self::merge`] for runs each sorted newest first (descending id).
    pub fn merge_newest_first(runs: Vec<Vec<T>>, limit: u16, id: impl Fn(&T) -> Uuid) -> Self {
        let mut all: Vec<T> = runs.into_iter().flatten().collect();
        all.sort_by_key(|row| std::cmp::Reverse(id(row)));
        Self::from_sorted(all, limit, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_shard_runs_keeps_id_order_and_reports_the_next_cursor() {
        let ids: Vec<Uuid> = (0..7).map(|_| Uuid::now_v7()).collect();
        let runs = vec![
            vec![ids[0], ids[3], ids[6]],
            vec![ids[1], ids[4]],
            vec![ids[2], ids[5]],
        ];
        let page = Page::merge(runs, 4, |u| *u);
        assert_eq!(page.items, ids[..4]);
        assert_eq!(page.next_after, Some(ids[3]));
        let last = Page::merge(vec![vec![ids[5]], vec![ids[6]]], 4, |u| *u);
        assert_eq!(last.next_after, None);
    }
}
