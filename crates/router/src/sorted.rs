//! Small ordered collections kept in one sorted vector: a call's members and the call-id sets
//! the router indexes calls by.
//!
//! Why not `BTreeMap`/`BTreeSet`: these collections are small (a handful of devices or calls),
//! yet a B-tree allocates a node of eleven slots for even one entry and a new node every few
//! entries. A flood leaves ended calls with hundreds of members each, kept for minutes so late
//! devices learn how they ended: after the hostile-load test's flood (16 calls of 500 members)
//! the router held about 800 KB in B-tree nodes, and holds 525 KB in vectors now (heaptrack).
//! A sorted vector is one allocation, iterates in the same order, and finds an entry by binary
//! search; inserting shifts the entries after it, which for collections this small costs less
//! than a node allocation.

/// A map with its entries in one vector sorted by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SortedMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K: Ord, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    fn find(&self, key: &K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(key))
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.find(key) {
            Ok(i) => Some(&mut self.entries[i].1),
            Err(_) => None,
        }
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// Inserts or replaces; returns the value replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// Gives back the room left from growing: for a collection that is done changing (the
    /// members of an ended call).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SortedMap<K, V> {
    /// Later entries replace earlier ones with the same key, as with `BTreeMap`. One sort,
    /// not an insertion per entry: a call to a user with thousands of devices is built here.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut entries: Vec<(K, V)> = iter.into_iter().collect();
        // Reversed, then a stable sort: of equal keys the last given comes first, and `dedup`
        // keeps the first of each run.
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|a, b| a.0 == b.0);
        SortedMap { entries }
    }
}

/// A set with its elements in one vector, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SortedSet<T> {
    items: Vec<T>,
}

impl<T: Ord> Default for SortedSet<T> {
    fn default() -> Self {
        SortedSet { items: Vec::new() }
    }
}

impl<T: Ord> SortedSet<T> {
    /// Returns whether it was new.
    pub(crate) fn insert(&mut self, item: T) -> bool {
        match self.items.binary_search(&item) {
            Ok(_) => false,
            Err(i) => {
                self.items.insert(i, item);
                true
            }
        }
    }

    /// Returns whether it was there. A set that has shrunk to a quarter of its room gives the
    /// rest back, so one burst does not leave every set at its largest size.
    pub(crate) fn remove(&mut self, item: &T) -> bool {
        match self.items.binary_search(item) {
            Ok(i) => {
                self.items.remove(i);
                if self.items.capacity() > 4 && self.items.len() * 4 <= self.items.capacity() {
                    self.items.shrink_to_fit();
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Removes and returns the smallest element.
    pub(crate) fn pop_first(&mut self) -> Option<T> {
        (!self.items.is_empty()).then(|| self.items.remove(0))
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_keeps_its_entries_sorted_and_replaces_by_key() {
        let mut map = SortedMap::default();
        assert_eq!(map.insert(3, "c"), None);
        assert_eq!(map.insert(1, "a"), None);
        assert_eq!(map.insert(2, "b"), None);
        assert_eq!(map.insert(2, "B"), Some("b"));
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(map.get(&2), Some(&"B"));
        assert_eq!(map.get(&4), None);
        assert!(map.contains_key(&1) && !map.contains_key(&0));
        if let Some(v) = map.get_mut(&3) {
            *v = "C";
        }
        assert_eq!(
            map.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            ["a", "B", "C"]
        );
        let collected: SortedMap<_, _> = [(5, 'x'), (4, 'y'), (5, 'z')].into_iter().collect();
        assert_eq!(
            collected.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
            [(4, 'y'), (5, 'z')]
        );
    }

    #[test]
    fn the_set_keeps_one_of_each_in_order_and_gives_room_back() {
        let mut set = SortedSet::default();
        for i in (0..64).rev() {
            assert!(set.insert(i));
        }
        assert!(!set.insert(7));
        assert_eq!(set.len(), 64);
        assert!(set.iter().copied().eq(0..64));
        for i in 0..60 {
            assert!(set.remove(&i));
        }
        assert!(!set.remove(&0));
        assert_eq!(set.pop_first(), Some(60));
        assert!(set.iter().copied().eq(61..64));
        assert!(set.items.capacity() < 64, "{}", set.items.capacity());
        for i in 61..64 {
            set.remove(&i);
        }
        assert!(set.is_empty());
    }
}
