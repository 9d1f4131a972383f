//! `#[cached(tags = [...])]` as an application uses it: an entry carries the tags its arguments
//! give, `cache_runtime::invalidate_tag` drops every entry with a tag, of any function, and no
//! other (a tag that starts like another is another), and `<fn>_refresh` stores with the tags too.
//! Each test runs on a store of its own (`with_provider`) and counts the runs of the bodies.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cache_runtime::{cached, invalidate_tag, with_provider, MemoryProvider};

/// A module with `order` (tagged by user and `orders`) and `invoice` (tagged by user only), and
/// counters of their own, so that tests running at once do not count each other's runs.
macro_rules! shop {
    ($module:ident) => {
        mod $module {
            use super::*;

            pub static ORDER_RUNS: AtomicUsize = AtomicUsize::new(0);
            pub static INVOICE_RUNS: AtomicUsize = AtomicUsize::new(0);

            #[cached(key = "order:{id}", tags = ["user:{user_id}", "orders"])]
            pub async fn order(id: u64, user_id: u64) -> String {
                ORDER_RUNS.fetch_add(1, SeqCst);
                format!("order {id} of {user_id}")
            }

            #[cached(key = "invoice:{id}", tags = ["user:{user_id}"])]
            pub async fn invoice(id: u64, user_id: u64) -> String {
                INVOICE_RUNS.fetch_add(1, SeqCst);
                format!("invoice {id} of {user_id}")
            }

            /// Caches order and invoice 1 of user 4 and 2 of user 42, and checks that each is a hit.
            pub async fn cache_both_users() {
                for _ in 0..2 {
                    assert_eq!(order(1, 4).await, "order 1 of 4");
                    assert_eq!(order(2, 42).await, "order 2 of 42");
                    assert_eq!(invoice(1, 4).await, "invoice 1 of 4");
                    assert_eq!(invoice(2, 42).await, "invoice 2 of 42");
                }
                assert_eq!(runs(), (2, 2), "the second round hit");
            }

            /// How many times the bodies of `order` and `invoice` ran.
            pub fn runs() -> (usize, usize) {
                (ORDER_RUNS.load(SeqCst), INVOICE_RUNS.load(SeqCst))
            }
        }
    };
}

shop!(by_user);
shop!(by_orders);
shop!(refreshed);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_tag_drops_that_users_entries_of_every_function_and_no_other_users() {
    use by_user::*;
    with_provider(MemoryProvider::new(), async {
        cache_both_users().await;
        invalidate_tag("user:4").await.unwrap();
        assert_eq!(order(2, 42).await, "order 2 of 42");
        assert_eq!(invoice(2, 42).await, "invoice 2 of 42");
        assert_eq!(runs(), (2, 2), "user 42's entries are kept: `user:4` is not `user:42`");
        assert_eq!(order(1, 4).await, "order 1 of 4");
        assert_eq!(invoice(1, 4).await, "invoice 1 of 4");
        assert_eq!(runs(), (3, 3), "user 4's order and invoice were dropped");
        assert_eq!(order(1, 4).await, "order 1 of 4");
        assert_eq!(runs(), (3, 3), "and cached again");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orders_tag_drops_every_order_and_no_invoice() {
    use by_orders::*;
    with_provider(MemoryProvider::new(), async {
        cache_both_users().await;
        invalidate_tag("orders").await.unwrap();
        assert_eq!(invoice(1, 4).await, "invoice 1 of 4");
        assert_eq!(invoice(2, 42).await, "invoice 2 of 42");
        assert_eq!(order(1, 4).await, "order 1 of 4");
        assert_eq!(order(2, 42).await, "order 2 of 42");
        assert_eq!(runs(), (4, 2), "both orders ran again, no invoice did");
        // A tag no entry carries drops nothing.
        invalidate_tag("order").await.unwrap();
        assert_eq!(order(1, 4).await, "order 1 of 4");
        assert_eq!(runs(), (4, 2));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_stores_with_the_functions_tags() {
    use refreshed::*;
    with_provider(MemoryProvider::new(), async {
        cache_both_users().await;
        // Each refresh stores over the entry the call stored.
        assert_eq!(order_refresh(1, 4).await, "order 1 of 4");
        assert_eq!(invoice_refresh(1, 4).await, "invoice 1 of 4");
        assert_eq!(order(1, 4).await, "order 1 of 4");
        assert_eq!(invoice(1, 4).await, "invoice 1 of 4");
        assert_eq!(runs(), (3, 3), "the refreshed entries are hits");
        invalidate_tag("user:4").await.unwrap();
        assert_eq!(order(1, 4).await, "order 1 of 4");
        assert_eq!(invoice(1, 4).await, "invoice 1 of 4");
        assert_eq!(runs(), (4, 4), "the refreshed entries carried the user's tag");
        assert_eq!(order_refresh(2, 42).await, "order 2 of 42");
        invalidate_tag("orders").await.unwrap();
        assert_eq!(order(2, 42).await, "order 2 of 42");
        assert_eq!(runs(), (6, 4), "and `orders`");
    })
    .await;
}

struct Reports {
    tenant: String,
    runs: AtomicUsize,
}

impl Reports {
    #[cached(key = "report:{self.tenant}:{month}", tags = ["tenant:{self.tenant}", "month:{month}"])]
    async fn report(&self, month: u32) -> String {
        self.runs.fetch_add(1, SeqCst);
        format!("{} {month}", self.tenant)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_tags_its_entries_with_the_receivers_field() {
    with_provider(MemoryProvider::new(), async {
        let acme = Reports { tenant: "acme".into(), runs: AtomicUsize::new(0) };
        let acme_eu = Reports { tenant: "acme-eu".into(), runs: AtomicUsize::new(0) };
        for _ in 0..2 {
            assert_eq!(acme.report(1).await, "acme 1");
            assert_eq!(acme.report(2).await, "acme 2");
            assert_eq!(acme_eu.report(1).await, "acme-eu 1");
        }
        assert_eq!((acme.runs.load(SeqCst), acme_eu.runs.load(SeqCst)), (2, 1));
        invalidate_tag("tenant:acme").await.unwrap();
        assert_eq!(acme_eu.report(1).await, "acme-eu 1");
        assert_eq!(acme.report(1).await, "acme 1");
        assert_eq!(acme.report(2).await, "acme 2");
        assert_eq!((acme.runs.load(SeqCst), acme_eu.runs.load(SeqCst)), (4, 1), "only acme's reports ran again");
        invalidate_tag("month:1").await.unwrap();
        assert_eq!(acme.report(1).await, "acme 1");
        assert_eq!(acme.report(2).await, "acme 2");
        assert_eq!(acme_eu.report(1).await, "acme-eu 1");
        assert_eq!((acme.runs.load(SeqCst), acme_eu.runs.load(SeqCst)), (5, 2), "every tenant's month 1 ran again");
    })
    .await;
}

static QUOTE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// A function of "fresh, stale, refreshed", which goes through its own entry point.
#[cached(ttl = "5m", stale = "1h", key = "quote:{symbol}", tags = ["symbol:{symbol}"])]
async fn quote(symbol: String) -> Result<usize, std::io::Error> {
    QUOTE_RUNS.fetch_add(1, SeqCst);
    Ok(symbol.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_function_passes_its_tags_too() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(quote("ACME".into()).await.unwrap(), 4);
        assert_eq!(quote("ACME".into()).await.unwrap(), 4);
        assert_eq!(QUOTE_RUNS.load(SeqCst), 1);
        invalidate_tag("symbol:ACME").await.unwrap();
        assert_eq!(quote("ACME".into()).await.unwrap(), 4);
        assert_eq!(QUOTE_RUNS.load(SeqCst), 2, "the tagged entry was dropped, not served stale");
    })
    .await;
}
