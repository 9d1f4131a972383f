// `pub` and `pub(crate)` functions: the helper has the same visibility, so it can be called from
// another module.
mod users {
    use cache_runtime::cached;

    #[cached(key = "name:{id}")]
    pub async fn name(id: u64) -> String {
        format!("user{id}")
    }

    #[cached(key = "email:{id}")]
    pub(crate) async fn email(id: u64) -> String {
        format!("user{id}@example.com")
    }

    pub mod nested {
        use cache_runtime::cached;

        #[cached(key = "nested:{id}")]
        pub(super) async fn secret(id: u64) -> u64 {
            id
        }

        #[cached(key = "nested_pub:{id}")]
        pub(in crate::users) async fn scoped(id: u64) -> u64 {
            id
        }
    }

    pub async fn clear(id: u64) -> bool {
        nested::secret(id).await;
        nested::scoped(id).await;
        nested::secret_invalidate(id).await && nested::scoped_invalidate(id).await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(users::name(1).await, "user1");
    assert!(users::name_invalidate(1).await);
    assert_eq!(users::email(1).await, "user1@example.com");
    assert!(users::email_invalidate(1).await);
    assert!(users::clear(1).await);
}
