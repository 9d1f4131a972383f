//! Helpers shared by the integration tests (and the benchmarks): a throwaway `redis-server`.
//!
//! ```no_run
//! use cache_tests::RedisServer;
//!
//! let mut server = RedisServer::start();          // a free port, a temp dir, no persistence
//! let url = server.url();                         // redis://127.0.0.1:PORT/0
//! server.stop();                                  // Redis down
//! server.restart();                               // up again on the same port, empty
//! # drop(url);
//! ```
//!
//! [`RedisCluster`] starts a Redis Cluster of six nodes the same way.
//!
//! A missing or broken `redis-server` is a panic that says what to install: tests that need
//! Redis fail, they never skip.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The variable that names another `redis-server` binary than the one on the `PATH`.
pub const REDIS_SERVER_VARIABLE: &str = "REDIS_SERVER_BIN";

/// A `redis-server` of its own for one test: on a free port of 127.0.0.1, in a temporary
/// directory, without persistence (`--save "" --appendonly no`). Dropping it kills the server.
///
/// ```no_run
/// let server = cache_tests::RedisServer::start();
/// assert!(server.url().starts_with("redis://127.0.0.1:"));
/// ```
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    extra_args: Vec<String>,
    child: Option<Child>,
    frozen: bool,
    /// The certificate authority's PEM, for a server started by [`start_tls`](Self::start_tls).
    tls_ca: Option<Vec<u8>>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// Panics, saying to run `apt-get install -y redis-server`, if the binary is missing or the
    /// server does not start.
    pub fn start() -> RedisServer {
        Self::start_with_args(&[])
    }

    /// [`start`](Self::start) with more `redis-server` arguments, such as
    /// `["--requirepass", "secret"]`.
    ///
    /// ```no_run
    /// let server = cache_tests::RedisServer::start_with_args(&["--requirepass", "s3cret"]);
    /// let url = format!("redis://:s3cret@127.0.0.1:{}/0", server.port());
    /// # drop(url);
    /// ```
    pub fn start_with_args(args: &[&str]) -> RedisServer {
        let mut server = Self::new(args.iter().map(|arg| (*arg).to_owned()).collect());
        server.start_on_a_free_port();
        server
    }

    /// A server that speaks only TLS, with a certificate for `127.0.0.1` and `localhost` signed by
    /// an authority made for it ([`ca_certificate`](Self::ca_certificate)); [`url`](Self::url)
    /// is then `rediss://`. The certificates are made with the `openssl` command.
    ///
    /// ```no_run
    /// let server = cache_tests::RedisServer::start_tls();
    /// assert!(server.url().starts_with("rediss://127.0.0.1:"));
    /// let ca_pem: &[u8] = server.ca_certificate();
    /// # drop(ca_pem);
    /// ```
    pub fn start_tls() -> RedisServer {
        let mut server = Self::new(Vec::new());
        let ca = make_certificates(server.dir.path());
        let file = |name: &str| server.dir.path().join(name).to_string_lossy().into_owned();
        server.extra_args = vec![
            "--tls-cert-file".into(),
            file("server.pem"),
            "--tls-key-file".into(),
            file("server.key"),
            "--tls-ca-cert-file".into(),
            file("ca.pem"),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        server.tls_ca = Some(ca);
        server.start_on_a_free_port();
        server
    }

    /// The PEM of the authority that signed a [`start_tls`](Self::start_tls) server's
    /// certificate. Panics for a plain server.
    pub fn ca_certificate(&self) -> &[u8] {
        self.tls_ca.as_deref().expect("ca_certificate() is for servers started with start_tls()")
    }

    fn new(extra_args: Vec<String>) -> RedisServer {
        let dir = tempfile::Builder::new()
            .prefix("cache-tests-redis-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory for redis-server: {e}"));
        RedisServer { port: 0, dir, extra_args, child: None, frozen: false, tls_ca: None }
    }

    fn start_on_a_free_port(&mut self) {
        // Another process may take the free port between the check and the start: try others.
        let mut last_error = String::new();
        for _ in 0..3 {
            self.port = free_port();
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(error) => last_error = error,
            }
        }
        panic!("redis-server did not start: {last_error}\n{}", install_hint());
    }

    /// `redis://127.0.0.1:PORT/0` (`rediss://` for a [`start_tls`](Self::start_tls) server).
    pub fn url(&self) -> String {
        let scheme = if self.tls_ca.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// The port it listens on (kept across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server process is running (stopped by [`stop`](Self::stop) or not).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server and waits for it to exit: Redis is down, connections drop and new ones
    /// are refused. Stopping a stopped server does nothing.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.frozen {
                self.signal(&child, "-CONT");
                self.frozen = false;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, then starts a new one on the same port (empty: nothing is
    /// persisted) and waits until it answers. Panics if it does not come back.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                // The old socket may linger for a moment: try again until the deadline.
                Err(error) if Instant::now() >= deadline => {
                    panic!("redis-server did not restart on port {}: {error}\n{}", self.port, install_hint())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Suspends the server (`SIGSTOP`): connections stay open but nothing answers, the way a hung
    /// or overloaded Redis behaves. [`thaw`](Self::thaw) resumes it.
    pub fn freeze(&mut self) {
        if let Some(child) = &self.child {
            self.signal(child, "-STOP");
            self.frozen = true;
        }
    }

    /// Resumes a server suspended by [`freeze`](Self::freeze).
    pub fn thaw(&mut self) {
        if let Some(child) = &self.child {
            self.signal(child, "-CONT");
            self.frozen = false;
        }
    }

    fn signal(&self, child: &Child, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .unwrap_or_else(|e| panic!("cannot run `kill {signal}`: {e}"));
        assert!(status.success(), "`kill {signal} {}` failed", child.id());
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let binary = std::env::var(REDIS_SERVER_VARIABLE).unwrap_or_else(|_| "redis-server".to_owned());
        let log = self.log_path();
        let _ = std::fs::remove_file(&log);
        let mut command = Command::new(&binary);
        let port = self.port.to_string();
        match self.tls_ca {
            None => command.args(["--port", &port]),
            Some(_) => command.args(["--port", "0", "--tls-port", &port]),
        };
        command
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!(
                    "`{binary}` was not found on the PATH: the Redis tests need a real Redis server.\n{}",
                    install_hint()
                )
            }
            Err(e) => panic!("cannot run `{binary}`: {e}\n{}", install_hint()),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(format!("it exited with {status}: {}{}", stderr.trim(), read_log(&log)));
            }
            let ready = match self.tls_ca {
                None => answers_ping(self.port),
                Some(_) => std::fs::read_to_string(&log).is_ok_and(|log| log.contains("Ready to accept connections")),
            };
            if ready {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("it did not answer PING within {START_TIMEOUT:?}{}", read_log(&log)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A Redis Cluster of its own for a test: three primaries and three replicas (`redis-server
/// --cluster-enabled yes --cluster-node-timeout 1000`, each on a free port of 127.0.0.1 in a
/// temporary directory, without persistence), joined with `redis-cli --cluster create
/// --cluster-replicas 1`. [`start`](Self::start) returns once every node reports
/// `cluster_state:ok` and every replica is in sync with its primary; dropping it kills every
/// node.
///
/// ```no_run
/// let cluster = cache_tests::RedisCluster::start();
/// let nodes: Vec<String> = cluster.urls();            // redis://127.0.0.1:PORT, one per node
/// let env = cluster.env_url();                        // redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...
/// assert_eq!(cluster.primaries().len(), 3);
/// # drop((nodes, env));
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

/// How long a cluster may take to form, or to fail over.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

impl RedisCluster {
    /// Starts six nodes, makes them a cluster, and waits until it is ready; panics, saying what
    /// went wrong, if it does not form within 30 s.
    pub fn start() -> RedisCluster {
        // A replica syncs at once (no diskless delay): it can only be promoted once it has.
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            "1000",
            "--cluster-config-file",
            "nodes.conf",
            "--repl-diskless-sync-delay",
            "0",
        ];
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                let mut server = RedisServer::new(args.iter().map(|arg| (*arg).to_owned()).collect());
                let mut last_error = String::new();
                for _ in 0..5 {
                    // The cluster bus listens on the port + 10000: both must be free.
                    server.port = free_cluster_port();
                    match server.spawn_and_wait() {
                        Ok(()) => return server,
                        Err(error) => last_error = error,
                    }
                }
                panic!("a cluster node did not start: {last_error}\n{}", install_hint());
            })
            .collect();
        let cluster = RedisCluster { nodes };
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let output = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `redis-cli --cluster create`: {e}\n{}", install_hint()));
        assert!(
            output.status.success(),
            "`redis-cli --cluster create` failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.wait_until("every node reports cluster_state:ok and every replica is in sync", |cluster| {
            cluster.nodes.iter().all(|node| cli(node.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
                && cluster.primaries().len() == 3
                && cluster
                    .nodes
                    .iter()
                    .filter(|node| !cluster.primaries().contains(&node.port))
                    .all(|node| cli(node.port, &["INFO", "replication"]).contains("master_link_status:up"))
        });
        cluster
    }

    /// `redis://127.0.0.1:PORT` of every node that runs, primaries and replicas.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|node| node.is_running())
            .map(|node| format!("redis://127.0.0.1:{}", node.port))
            .collect()
    }

    /// The cluster as `init_from_env` reads it: `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...`.
    pub fn env_url(&self) -> String {
        let hosts: Vec<String> =
            self.nodes.iter().filter(|node| node.is_running()).map(|node| format!("127.0.0.1:{}", node.port)).collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// The ports of the primaries that serve slots now, as a running node sees them.
    pub fn primaries(&self) -> Vec<u16> {
        let Some(node) = self.nodes.iter().find(|node| node.is_running()) else { return Vec::new() };
        let mut ports: Vec<u16> = cli(node.port, &["CLUSTER", "NODES"])
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let flags = fields.get(2)?;
                let serving = flags.split(',').any(|f| f == "master") && !flags.split(',').any(|f| f == "fail");
                (serving && fields.len() > 8).then_some(())?;
                fields[1].split(['@', ',']).next()?.rsplit_once(':')?.1.parse().ok()
            })
            .collect();
        ports.sort_unstable();
        ports
    }

    /// The keys on the node at `port` whose names match the glob `pattern` (`SCAN` on it).
    pub fn keys_on(&self, port: u16, pattern: &str) -> Vec<String> {
        let out = cli(port, &["--scan", "--pattern", pattern]);
        out.lines().filter(|line| !line.is_empty()).map(str::to_owned).collect()
    }

    /// Runs `redis-cli -p port args...` and returns what it printed.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        cli(port, args)
    }

    /// Kills the node at `port` with `SIGKILL` and waits until the cluster has promoted its
    /// replica (every running node reports `cluster_state:ok` and the node is no longer a
    /// serving primary); returns how long that took.
    pub fn kill_and_fail_over(&mut self, port: u16) -> Duration {
        self.kill(port);
        let started = Instant::now();
        self.wait_until("the cluster failed over", |cluster| {
            !cluster.primaries().contains(&port)
                && cluster.primaries().len() == 3
                && cluster
                    .nodes
                    .iter()
                    .filter(|node| node.is_running())
                    .all(|node| cli(node.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        });
        started.elapsed()
    }

    /// Kills the node at `port` with `SIGKILL`, and returns at once.
    pub fn kill(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|node| node.port == port).expect("no node of this cluster on that port");
        node.stop();
    }

    fn wait_until(&self, what: &str, done: impl Fn(&RedisCluster) -> bool) {
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        while !done(self) {
            if Instant::now() >= deadline {
                let nodes =
                    self.nodes.iter().find(|node| node.is_running()).map(|node| cli(node.port, &["CLUSTER", "NODES"]));
                panic!(
                    "the Redis Cluster did not get there within {CLUSTER_TIMEOUT:?}: {what}\n{}",
                    nodes.unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `redis-cli -p port args...`: what it printed (empty if it could not run).
fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
}

/// A port below 55536 that nothing listens on, and whose cluster bus port (+10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55536 && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 10000)).is_ok() {
            return port;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn install_hint() -> &'static str {
    "Install it with `apt-get install -y redis-server` (Debian/Ubuntu), or set REDIS_SERVER_BIN to its path."
}

/// Makes a certificate authority and a server certificate for `127.0.0.1` and `localhost` in
/// `dir` (`ca.pem`, `server.pem`, `server.key`); returns the authority's PEM.
fn make_certificates(dir: &Path) -> Vec<u8> {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("cannot write the certificate extensions");
    let steps: [&[&str]; 3] = [
        &[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=cache-tests CA"],
        ]
        .concat(),
        &[&["req"], &ec[..], &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]].concat(),
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let output = Command::new("openssl").args(args).current_dir(dir).output().unwrap_or_else(|e| {
            panic!("cannot run `openssl` to make the TLS test certificates ({e}): install it with `apt-get install -y openssl`")
        });
        assert!(
            output.status.success(),
            "`openssl {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::read(dir.join("ca.pem")).expect("openssl wrote ca.pem")
}

fn read_log(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(log) if !log.trim().is_empty() => format!("\nits log:\n{}", log.trim()),
        _ => String::new(),
    }
}

/// A port that nothing listens on now.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("cannot bind a port on 127.0.0.1");
    listener.local_addr().expect("a bound socket has an address").port()
}

/// Whether a server on `port` answers `PING` (`-NOAUTH` counts: it answers, it wants a password).
fn answers_ping(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 64];
    match stream.read(&mut reply) {
        Ok(n) => reply[..n].starts_with(b"+PONG") || reply[..n].starts_with(b"-NOAUTH"),
        Err(_) => false,
    }
}

/// Polls `condition` every 50 ms until it holds, and panics with `what` if it still does not
/// after `timeout`: for what happens in the background (a reconnection, a switch of provider).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut tries = 0;
/// cache_tests::wait_until("the third try", std::time::Duration::from_secs(5), || {
///     tries += 1;
///     std::future::ready(tries == 3)
/// })
/// .await;
/// # }
/// ```
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Collects what a `tracing` subscriber writes, for tests that read the logs:
/// `tracing_subscriber::fmt().with_writer(move || logs.clone())`.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How many times Redis ran `command`, read from the text of `INFO commandstats`.
///
/// ```
/// let info = "# Commandstats\r\ncmdstat_get:calls=12,usec=30,usec_per_call=2.50\r\n";
/// assert_eq!(cache_tests::command_calls(info, "get"), 12);
/// assert_eq!(cache_tests::command_calls(info, "set"), 0);
/// ```
pub fn command_calls(info: &str, command: &str) -> u64 {
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}

/// A model database for the race tests: the current version of each row. A write bumps it (then
/// the test invalidates); a cached read returns the version it saw when it started.
pub mod rows {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};

    static ROWS: LazyLock<Mutex<HashMap<u64, u64>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

    /// The current version of row `id` (1 until it is first written).
    ///
    /// ```
    /// assert_eq!(cache_tests::rows::version(7), 1);
    /// assert_eq!(cache_tests::rows::write(7), 2);
    /// assert_eq!(cache_tests::rows::version(7), 2);
    /// ```
    pub fn version(id: u64) -> u64 {
        *ROWS.lock().unwrap_or_else(|p| p.into_inner()).entry(id).or_insert(1)
    }

    /// Writes row `id`: its new version.
    pub fn write(id: u64) -> u64 {
        let mut rows = ROWS.lock().unwrap_or_else(|p| p.into_inner());
        let version = rows.entry(id).or_insert(1);
        *version += 1;
        *version
    }
}

/// A `#[cached]` function in a library crate that nothing calls: the function registry test shows
/// it is listed all the same, in every binary that links this crate.
pub mod never_called {
    /// Cached on a provider that the registry test never registers.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(cache_tests::never_called::archived(3).await, 3);
    /// # }
    /// ```
    #[cache_runtime::cached(provider = "archive", key = "archived:{id}")]
    pub async fn archived(id: u64) -> u64 {
        id
    }
}

/// Runs `future` in a task of its own on `store`: a `with_provider` scope does not reach spawned
/// tasks, and clones of one provider share its entries and flights.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = cache_runtime::MemoryProvider::new();
/// assert_eq!(cache_tests::spawn_on(&store, async { 2 }).await.unwrap(), 2);
/// # }
/// ```
pub fn spawn_on<F>(store: &cache_runtime::MemoryProvider, future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(cache_runtime::with_provider(store.clone(), future))
}

/// A small deterministic generator (xorshift), so that a failing randomized schedule can be
/// replayed from its seed.
///
/// ```
/// let (mut a, mut b) = (cache_tests::Rng(7), cache_tests::Rng(7));
/// assert_eq!(a.below(10), b.below(10));
/// ```
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Runs `scenario` on a thread of its own and fails if it has not finished within `deadline`: a
/// call that waits on itself fails its test instead of hanging the suite. A panic of the scenario
/// is the test's panic.
///
/// ```
/// cache_tests::within_deadline(std::time::Duration::from_secs(5), || assert_eq!(1 + 1, 2));
/// ```
pub fn within_deadline(deadline: Duration, scenario: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        scenario();
        let _ = done.send(());
    });
    match finished.recv_timeout(deadline) {
        Ok(()) => thread.join().expect("the scenario finished"),
        Err(_) if thread.is_finished() => std::panic::resume_unwind(thread.join().unwrap_err()),
        Err(_) => panic!("no progress in {deadline:?}: a call waits on itself"),
    }
}
