//! Hubs: their connections, groups and users, and fan-out of data messages. Hub state sits
//! behind one short-held mutex per hub; delivery to each recipient happens after it is
//! released, under that recipient's own lock only.
//!
//! A hub lives in the registry only while something needs it: a connection (a reliable
//! session waiting for recovery is still one, with its permissions), or a user-group
//! membership REST remembered for the user's later connections. Groups and users exist only
//! through connections. When the last of these goes, the hub leaves the registry; a later
//! connection or REST call starts a fresh one. Whatever adds to a hub does so while holding
//! the registry's map lock, and removal takes the map's write lock, so a hub is never
//! removed between being found and being filled.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use super::session::{CloseCause, Connection, Delivered, Delivery, Limits};

/// Settings every hub shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) access_key: String,
    pub(crate) allow_anonymous: bool,
    pub(crate) recovery_window: Duration,
    /// WebSocket ping interval; a socket silent for `SILENT_PINGS` intervals is dropped.
    pub(crate) keepalive_interval: Duration,
    pub(crate) limits: Limits,
    /// Signs reconnection tokens; random per service run, so tokens die with the process.
    pub(crate) reconnection_secret: String,
    /// Event handlers; set by `service::start`.
    pub(crate) upstream: Option<Arc<super::upstream::Upstream>>,
    next_epoch: AtomicU64,
    active_sockets: AtomicUsize,
    sockets_done: Notify,
}

impl Shared {
    pub(crate) fn new(
        access_key: String,
        allow_anonymous: bool,
        recovery_window: Duration,
        keepalive_interval: Duration,
        limits: Limits,
    ) -> Self {
        let secret: [u8; 32] = rand::random();
        Shared {
            access_key,
            allow_anonymous,
            recovery_window,
            keepalive_interval,
            limits,
            reconnection_secret: secret.iter().map(|b| format!("{b:02x}")).collect(),
            upstream: None,
            next_epoch: AtomicU64::new(1),
            active_sockets: AtomicUsize::new(0),
            sockets_done: Notify::new(),
        }
    }

    pub(crate) fn next_epoch(&self) -> u64 {
        self.next_epoch.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a running socket task until the guard drops.
    pub(crate) fn track_socket(self: &Arc<Self>) -> SocketGuard {
        self.active_sockets.fetch_add(1, Ordering::AcqRel);
        SocketGuard(self.clone())
    }

    /// Waits until every socket task has ended.
    pub(crate) async fn sockets_finished(&self) {
        loop {
            let notified = self.sockets_done.notified();
            if self.active_sockets.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Keeps a socket task counted while alive.
pub(crate) struct SocketGuard(Arc<Shared>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if self.0.active_sockets.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.sockets_done.notify_waiters();
        }
    }
}

type HubMap = RwLock<HashMap<String, Arc<Hub>>>;

/// Every hub of the service in use. Hub names are case-insensitive.
#[derive(Debug)]
pub(crate) struct Registry {
    hubs: Arc<HubMap>,
    pub(crate) shared: Arc<Shared>,
}

impl Registry {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Registry {
            hubs: Arc::new(RwLock::new(HashMap::new())),
            shared,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Hub>>> {
        // Map operations are single inserts and removes: consistent even after a panic.
        self.hubs.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The hub, if something uses it.
    pub(crate) fn find(&self, name: &str) -> Option<Arc<Hub>> {
        self.read().get(&name.to_ascii_lowercase()).cloned()
    }

    /// The hub, or one with nothing in it that the registry does not keep: for requests that
    /// only read or remove, so they never grow the map.
    pub(crate) fn find_or_vacant(&self, name: &str) -> Arc<Hub> {
        self.find(name)
            .unwrap_or_else(|| Arc::new(Hub::new(name.to_ascii_lowercase(), Weak::new())))
    }

    /// Runs `fill` on the hub (created if needed) while the registry cannot remove it, so
    /// what `fill` adds is kept. Returns the hub and what `fill` returned.
    pub(crate) fn fill<R>(&self, name: &str, fill: impl FnOnce(&Hub) -> R) -> (Arc<Hub>, R) {
        let key = name.to_ascii_lowercase();
        {
            let hubs = self.read();
            if let Some(hub) = hubs.get(&key) {
                return (hub.clone(), fill(hub));
            }
        }
        let mut hubs = self.hubs.write().unwrap_or_else(|e| e.into_inner());
        let hub = hubs
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Hub::new(key, Arc::downgrade(&self.hubs))))
            .clone();
        let filled = fill(&hub);
        (hub, filled)
    }

    /// How many hubs are in use.
    pub(crate) fn hub_count(&self) -> usize {
        self.read().len()
    }

    /// How many client connections are open, in all hubs.
    pub(crate) fn connection_count(&self) -> usize {
        self.read()
            .values()
            .map(|hub| hub.lock().connections.len())
            .sum()
    }

    /// Closes every connection of every hub (service shutdown).
    pub(crate) fn close_all(&self, cause: &CloseCause) {
        let hubs: Vec<Arc<Hub>> = self.read().values().cloned().collect();
        for hub in hubs {
            for connection in hub.connections() {
                hub.close_connection(&connection.id, cause);
            }
        }
    }
}

#[derive(Debug)]
struct Member {
    connection: Arc<Connection>,
    groups: HashSet<Arc<str>>,
}

#[derive(Debug, Default)]
struct HubState {
    connections: HashMap<Arc<str>, Member>,
    groups: HashMap<Arc<str>, GroupMembers>,
    users: HashMap<Arc<str>, Vec<Arc<Connection>>>,
    /// Groups a user was added to by REST; the user's later connections join them too.
    user_groups: HashMap<Arc<str>, HashSet<Arc<str>>>,
}

/// One group's members: joining and leaving are O(1) (10 000 members join without copying
/// the list each time), and a fan-out takes an immutable snapshot, built on the first send
/// after a change, so it clones one `Arc` under the hub lock.
#[derive(Debug, Default)]
struct GroupMembers {
    members: Vec<Arc<Connection>>,
    /// Where each member sits in `members`.
    index: HashMap<Arc<str>, usize>,
    snapshot: Option<Arc<[Arc<Connection>]>>,
}

impl GroupMembers {
    fn insert(&mut self, connection: Arc<Connection>) {
        if self.index.contains_key(&connection.id) {
            return;
        }
        self.index.insert(connection.id.clone(), self.members.len());
        self.members.push(connection);
        self.snapshot = None;
    }

    fn remove(&mut self, connection_id: &str) {
        let Some(at) = self.index.remove(connection_id) else {
            return;
        };
        self.members.swap_remove(at);
        if let Some(moved) = self.members.get(at) {
            self.index.insert(moved.id.clone(), at);
        }
        self.snapshot = None;
    }

    fn snapshot(&mut self) -> Arc<[Arc<Connection>]> {
        self.snapshot
            .get_or_insert_with(|| Arc::from(self.members.as_slice()))
            .clone()
    }
}

impl HubState {
    /// Nothing left that a later request could find: see the module comment.
    fn is_unused(&self) -> bool {
        self.connections.is_empty() && self.user_groups.is_empty()
    }
}

/// One hub.
#[derive(Debug)]
pub(crate) struct Hub {
    pub(crate) name: String,
    state: Mutex<HubState>,
    /// The registry's map, to leave it when unused (empty for a vacant hub).
    registry: Weak<HubMap>,
}

impl Hub {
    fn new(name: String, registry: Weak<HubMap>) -> Self {
        Hub {
            name,
            state: Mutex::new(HubState::default()),
            registry,
        }
    }

    /// Leaves the registry if nothing uses this hub any more. Call without the state lock:
    /// the map lock comes first.
    fn leave_registry_if_unused(&self) {
        if !self.lock().is_unused() {
            return;
        }
        let Some(hubs) = self.registry.upgrade() else {
            return;
        };
        let mut hubs = hubs.write().unwrap_or_else(|e| e.into_inner());
        let registered = hubs
            .get(&self.name)
            .is_some_and(|hub| std::ptr::eq(Arc::as_ptr(hub), self));
        // Checked again under the map lock: nothing can be added meanwhile.
        if registered && self.lock().is_unused() {
            hubs.remove(&self.name);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // Every critical section leaves the maps consistent, so poison carries no meaning.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection and joins it to the groups its token names. Called through
    /// `Registry::fill`, so the hub is not removed meanwhile.
    pub(crate) fn add(&self, connection: Arc<Connection>, groups: &[String]) {
        let mut state = self.lock();
        if let Some(user) = &connection.user_id {
            state
                .users
                .entry(user.clone())
                .or_default()
                .push(connection.clone());
        }
        state.connections.insert(
            connection.id.clone(),
            Member {
                connection: connection.clone(),
                groups: HashSet::new(),
            },
        );
        for group in groups {
            join_locked(&mut state, &connection.id, group);
        }
        let remembered: Vec<Arc<str>> = connection
            .user_id
            .as_ref()
            .and_then(|user| state.user_groups.get(user))
            .map(|groups| groups.iter().cloned().collect())
            .unwrap_or_default();
        for group in remembered {
            join_locked(&mut state, &connection.id, &group);
        }
    }

    pub(crate) fn get(&self, connection_id: &str) -> Option<Arc<Connection>> {
        self.lock()
            .connections
            .get(connection_id)
            .map(|m| m.connection.clone())
    }

    pub(crate) fn connections(&self) -> Vec<Arc<Connection>> {
        self.lock()
            .connections
            .values()
            .map(|m| m.connection.clone())
            .collect()
    }

    pub(crate) fn user_connections(&self, user_id: &str) -> Vec<Arc<Connection>> {
        self.lock().users.get(user_id).cloned().unwrap_or_default()
    }

    pub(crate) fn group_members(&self, group: &str) -> Option<Arc<[Arc<Connection>]>> {
        self.lock()
            .groups
            .get_mut(group)
            .map(GroupMembers::snapshot)
    }

    /// Adds a connection to a group. False if the connection is unknown.
    pub(crate) fn join(&self, connection_id: &str, group: &str) -> bool {
        join_locked(&mut self.lock(), connection_id, group)
    }

    /// Removes a connection from a group (a no-op if it was not a member). False if the
    /// connection is unknown.
    pub(crate) fn leave(&self, connection_id: &str, group: &str) -> bool {
        leave_locked(&mut self.lock(), connection_id, group)
    }

    /// Adds every connection of a user to a group, and remembers it so the user's later
    /// connections join too; returns how many connections there were.
    pub(crate) fn join_user(&self, user_id: &str, group: &str) -> usize {
        let mut state = self.lock();
        let ids = user_connection_ids(&state, user_id);
        for id in &ids {
            join_locked(&mut state, id, group);
        }
        state
            .user_groups
            .entry(Arc::from(user_id))
            .or_default()
            .insert(Arc::from(group));
        ids.len()
    }

    /// Removes every connection of a user from a group, and forgets the membership.
    pub(crate) fn leave_user(&self, user_id: &str, group: &str) {
        let mut state = self.lock();
        let ids = user_connection_ids(&state, user_id);
        for id in &ids {
            leave_locked(&mut state, id, group);
        }
        if let Some(groups) = state.user_groups.get_mut(user_id) {
            groups.remove(group);
            if groups.is_empty() {
                state.user_groups.remove(user_id);
            }
        }
        drop(state);
        self.leave_registry_if_unused();
    }

    /// Removes every connection of a user from every group, and forgets the user's
    /// remembered memberships.
    pub(crate) fn leave_user_all(&self, user_id: &str) {
        let mut state = self.lock();
        for id in user_connection_ids(&state, user_id) {
            leave_all_locked(&mut state, &id);
        }
        state.user_groups.remove(user_id);
        drop(state);
        self.leave_registry_if_unused();
    }

    /// Removes a connection from every group. False if the connection is unknown.
    pub(crate) fn leave_all(&self, connection_id: &str) -> bool {
        leave_all_locked(&mut self.lock(), connection_id)
    }

    pub(crate) fn group_exists(&self, group: &str) -> bool {
        self.lock().groups.contains_key(group)
    }

    pub(crate) fn user_exists(&self, user_id: &str) -> bool {
        self.lock().users.contains_key(user_id)
    }

    /// Forgets a connection: its groups, its user entry. Returns it if it was known.
    pub(crate) fn remove(&self, connection_id: &str) -> Option<Arc<Connection>> {
        let removed = remove_locked(&mut self.lock(), connection_id);
        self.leave_registry_if_unused();
        removed
    }

    /// Ends a connection from the service side (REST close, overflow, shutdown).
    pub(crate) fn close_connection(&self, connection_id: &str, cause: &CloseCause) -> bool {
        match self.remove(connection_id) {
            Some(connection) => {
                tracing::info!(
                    hub = %self.name,
                    connection_id,
                    code = cause.code,
                    reason = %cause.reason,
                    "closing connection"
                );
                connection.close(cause);
                true
            }
            None => false,
        }
    }

    /// Closes each of `connections` not excluded; returns how many were closed.
    pub(crate) fn close_connections(
        &self,
        connections: &[Arc<Connection>],
        cause: &CloseCause,
        excluded: impl Fn(&Connection) -> bool,
    ) -> usize {
        connections
            .iter()
            .filter(|c| !excluded(c))
            .filter(|c| self.close_connection(&c.id, cause))
            .count()
    }

    /// Hands one message to each recipient not excluded, then closes those that overflowed.
    /// Returns the recipients whose queue is backlogged: a publisher should wait for them.
    pub(crate) fn fan_out<'a>(
        &self,
        recipients: impl IntoIterator<Item = &'a Arc<Connection>>,
        delivery: &Delivery,
        excluded: impl Fn(&Connection) -> bool,
    ) -> Vec<Arc<Connection>> {
        let mut overflowed: Vec<(Arc<str>, Delivered)> = Vec::new();
        let mut backlogged = Vec::new();
        for connection in recipients {
            if excluded(connection) {
                continue;
            }
            match connection.deliver(delivery) {
                Delivered::Queued | Delivered::Gone => {}
                Delivered::Backlogged => backlogged.push(connection.clone()),
                outcome => overflowed.push((connection.id.clone(), outcome)),
            }
        }
        for (id, outcome) in overflowed {
            let cause = if outcome == Delivered::BufferFull {
                CloseCause::buffer_full()
            } else {
                CloseCause::slow_client()
            };
            self.close_connection(&id, &cause);
        }
        backlogged
    }
}

fn remove_locked(state: &mut HubState, connection_id: &str) -> Option<Arc<Connection>> {
    let member = state.connections.remove(connection_id)?;
    for group in &member.groups {
        remove_from_group(state, group, connection_id);
    }
    if let Some(user) = &member.connection.user_id
        && let Some(list) = state.users.get_mut(user)
    {
        list.retain(|c| &*c.id != connection_id);
        if list.is_empty() {
            state.users.remove(user);
        }
    }
    Some(member.connection)
}

fn join_locked(state: &mut HubState, connection_id: &str, group: &str) -> bool {
    let Some(member) = state.connections.get_mut(connection_id) else {
        return false;
    };
    if member.groups.contains(group) {
        return true;
    }
    let group: Arc<str> = Arc::from(group);
    member.groups.insert(group.clone());
    let connection = member.connection.clone();
    state.groups.entry(group).or_default().insert(connection);
    true
}

fn user_connection_ids(state: &HubState, user_id: &str) -> Vec<Arc<str>> {
    state
        .users
        .get(user_id)
        .map(|c| c.iter().map(|c| c.id.clone()).collect())
        .unwrap_or_default()
}

fn leave_all_locked(state: &mut HubState, connection_id: &str) -> bool {
    let Some(member) = state.connections.get_mut(connection_id) else {
        return false;
    };
    let groups = std::mem::take(&mut member.groups);
    for group in &groups {
        remove_from_group(state, group, connection_id);
    }
    true
}

fn leave_locked(state: &mut HubState, connection_id: &str, group: &str) -> bool {
    let Some(member) = state.connections.get_mut(connection_id) else {
        return false;
    };
    if member.groups.remove(group) {
        remove_from_group(state, group, connection_id);
    }
    true
}

fn remove_from_group(state: &mut HubState, group: &str, connection_id: &str) {
    let Some(members) = state.groups.get_mut(group) else {
        return;
    };
    members.remove(connection_id);
    if members.members.is_empty() {
        // A group exists only while it has members.
        state.groups.remove(group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::permissions::Permissions;
    use crate::service::session::{Attachment, ClientKind};

    fn registry() -> Registry {
        let limits = Limits {
            queue_frames: 8,
            queue_bytes: 1 << 20,
            reliable_messages: 8,
            reliable_bytes: 1 << 20,
            ack_grace: Duration::from_secs(1),
            backpressure: Duration::ZERO,
        };
        let shared = Shared::new(
            "key".into(),
            false,
            Duration::from_secs(30),
            Duration::from_secs(20),
            limits,
        );
        Registry::new(Arc::new(shared))
    }

    fn connection(registry: &Registry, id: &str, user: &str) -> Arc<Connection> {
        Arc::new(Connection::new(
            Arc::from(id),
            Some(Arc::from(user)),
            ClientKind::Json,
            Permissions::default(),
            registry.shared.limits,
            Attachment::new(1),
        ))
    }

    #[test]
    fn a_group_send_reaches_exactly_the_members_left_after_joins_and_leaves() {
        let registry = registry();
        let (hub, ()) = registry.fill("chat", |hub| {
            for id in ["a", "b", "c", "d"] {
                hub.add(connection(&registry, id, id), &["room".into()]);
            }
        });
        let members = |hub: &Hub| -> Vec<String> {
            let mut ids: Vec<String> = hub
                .group_members("room")
                .map(|m| m.iter().map(|c| c.id.to_string()).collect())
                .unwrap_or_default();
            ids.sort();
            ids
        };
        assert_eq!(members(&hub), ["a", "b", "c", "d"]);
        // Leaving from the front, the middle and the end, then joining again.
        assert!(hub.leave("a", "room"));
        assert!(hub.leave("c", "room"));
        assert_eq!(members(&hub), ["b", "d"]);
        assert!(hub.join("a", "room"));
        assert!(hub.join("a", "room"), "joining twice is one membership");
        assert!(hub.remove("d").is_some());
        assert_eq!(members(&hub), ["a", "b"]);
        hub.leave("a", "room");
        hub.leave("b", "room");
        assert!(!hub.group_exists("room"), "a group without members is gone");
    }

    #[test]
    fn a_hub_is_kept_while_a_connection_or_a_remembered_membership_needs_it() {
        let registry = registry();
        // Looking at a hub nobody uses keeps nothing.
        assert!(registry.find_or_vacant("Chat").connections().is_empty());
        assert_eq!(registry.hub_count(), 0);

        let (hub, ()) = registry.fill("Chat", |hub| {
            hub.add(connection(&registry, "c1", "ann"), &["room".into()])
        });
        assert_eq!(registry.hub_count(), 1);
        registry.fill("chat", |hub| hub.join_user("bob", "room"));
        assert!(hub.remove("c1").is_some());
        assert_eq!(
            registry.hub_count(),
            1,
            "bob's remembered membership keeps it"
        );
        hub.leave_user("bob", "room");
        assert_eq!(registry.hub_count(), 0);
        assert!(registry.find("CHAT").is_none());

        // A later connection starts a fresh hub.
        let (fresh, ()) = registry.fill("chat", |hub| {
            hub.add(connection(&registry, "c2", "ann"), &[])
        });
        assert!(!Arc::ptr_eq(&hub, &fresh));
        assert_eq!(registry.hub_count(), 1);
        fresh.close_connection("c2", &CloseCause::slow_client());
        assert_eq!(registry.hub_count(), 0);
    }
}
