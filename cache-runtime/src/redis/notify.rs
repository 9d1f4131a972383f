//! Wakes the callers waiting for a computation on another instance as soon as it ends.
//!
//! Every script that ends a lease (a value stored, a lease given up, an invalidation) publishes
//! the key on the provider's channel. One pub/sub connection per provider, opened when a caller
//! first waits, hands each message to the callers of this process that wait for that key. A
//! message can be missed (the subscription is being set up, or its connection breaks): waiters
//! also look again at a short interval, so a lost message costs latency, never a result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

use super::connection::Subscriber;

/// How long the listener waits before it connects again after losing its connection.
const RECONNECT: Duration = Duration::from_millis(500);

/// How often an idle listener checks that its provider still exists.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The waiters of one provider, by key, and its listener.
pub(super) struct Notifier {
    subscriber: Arc<Subscriber>,
    channel: String,
    connect_timeout: Duration,
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    listening: OnceLock<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is one insert, lookup or removal: a panic cannot leave it half-done.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Notifier {
    pub(super) fn new(subscriber: Arc<Subscriber>, channel: String, connect_timeout: Duration) -> Arc<Notifier> {
        Arc::new(Notifier {
            subscriber,
            channel,
            connect_timeout,
            waiters: Mutex::new(HashMap::new()),
            listening: OnceLock::new(),
        })
    }

    /// Registers interest in `key`, starting the listener if it is not running yet.
    pub(super) fn watch(self: &Arc<Self>, key: &str) -> Watch {
        self.listening.get_or_init(|| {
            tokio::spawn(listen(Arc::downgrade(self)));
        });
        let notify = Arc::clone(lock(&self.waiters).entry(key.to_owned()).or_default());
        Watch { notifier: Arc::clone(self), key: key.to_owned(), notify }
    }

    fn wake(&self, key: &str) {
        if let Some(notify) = lock(&self.waiters).get(key) {
            notify.notify_waiters();
        }
    }
}

/// A caller's interest in the end of a key's lease; dropping it forgets the key when no one else
/// waits for it.
pub(super) struct Watch {
    notifier: Arc<Notifier>,
    key: String,
    notify: Arc<Notify>,
}

impl Watch {
    /// A future that completes at the next message for the key; it receives messages from the
    /// moment it is made, so make it before looking at the lease.
    pub(super) fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut waiters = lock(&self.notifier.waiters);
        // The map and this watch hold the only references: no one else waits for the key.
        if waiters.get(&self.key).is_some_and(|notify| Arc::strong_count(notify) == 2) {
            waiters.remove(&self.key);
        }
    }
}

/// Subscribes to the channel and wakes the waiters of each key published, reconnecting when the
/// connection breaks, until the provider is dropped.
async fn listen(notifier: Weak<Notifier>) {
    loop {
        let Some((subscriber, channel, connect_timeout)) =
            notifier.upgrade().map(|n| (Arc::clone(&n.subscriber), n.channel.clone(), n.connect_timeout))
        else {
            return;
        };
        if let Ok(Ok(mut pubsub)) = tokio::time::timeout(connect_timeout, subscriber.pubsub()).await {
            if pubsub.subscribe(&channel).await.is_ok() {
                let mut messages = pubsub.into_on_message();
                loop {
                    match tokio::time::timeout(IDLE_CHECK, messages.next()).await {
                        Ok(Some(message)) => {
                            let Some(notifier) = notifier.upgrade() else { return };
                            if let Ok(key) = message.get_payload::<String>() {
                                notifier.wake(&key);
                            }
                        }
                        // The connection broke: connect again.
                        Ok(None) => break,
                        Err(_) if notifier.strong_count() == 0 => return,
                        Err(_) => {}
                    }
                }
            }
        }
        // On a cluster, the next node is tried.
        subscriber.lost();
        tokio::time::sleep(RECONNECT).await;
    }
}
