//! A real Redis server for tests, started by the test itself.
//!
//! [`RedisServer::start`] runs `redis-server` as a child process on a free loopback port, without
//! persistence and in a fresh directory of its own, and returns once the server answers `PING`. A
//! test can crash it ([`RedisServer::kill`]), bring it back on the same port
//! ([`RedisServer::restart`]) and send it commands ([`RedisServer::command`]); dropping it kills
//! the server and removes its directory. [`RedisCluster::start`] runs several as the nodes of a
//! Redis Cluster, each serving a share of the slots.
//!
//! `redis-server` must be on `PATH`. A test that needs Redis fails without it, it never skips;
//! `bash .ci/test.sh setup` installs it (Debian's `redis-server` package).
//!
//! ```
//! use tollgate_testkit::redis::RedisServer;
//!
//! let redis = RedisServer::start()?;
//! assert_eq!(redis.command(&["SET", "k", "v"])?, "OK");
//! assert_eq!(redis.command(&["GET", "k"])?, "v");
//! assert_eq!(redis.command(&["DBSIZE"])?, "1");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The program started, looked up on `PATH`.
const REDIS_SERVER: &str = "redis-server";
/// How long a server may take to answer its first `PING`.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// How long [`RedisServer::restart`] retries while the port is still held by someone else.
const REBIND_WITHIN: Duration = Duration::from_secs(5);
/// How many free ports [`RedisServer::start`] tries when the one it picked was taken meanwhile.
const PORT_ATTEMPTS: u32 = 5;
/// Connect, read and write timeout of one [`RedisServer::command`].
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The log file in the server's directory (its stdout and stderr, over every start).
const LOG: &str = "redis.log";

/// Numbers the servers of this process, for unique directory names.
static STARTED: AtomicU32 = AtomicU32::new(0);

/// A `redis-server` child process on `127.0.0.1`, with no persistence (`--save ""`,
/// `--appendonly no`): every start, [`restart`](Self::restart) included, begins empty.
///
/// Dropping it kills the server and removes its directory.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    /// The server's working directory and log, removed on drop.
    dir: PathBuf,
    /// `None` once [`kill`](Self::kill)ed.
    child: Option<Child>,
    /// The program started (`redis-server`; another name in this module's tests).
    program: &'static str,
    role: Role,
}

/// How a server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// On its own.
    Plain,
    /// As a node of a [`RedisCluster`], talking to the other nodes on its `bus` port.
    ClusterNode { bus: u16 },
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits (up to 10 s) until it answers `PING`.
    ///
    /// # Errors
    ///
    /// `redis-server` is not on `PATH` (the message says how to install it), it could not start,
    /// or it did not answer in time (the message quotes its log).
    pub fn start() -> io::Result<Self> {
        Self::start_program(REDIS_SERVER)
    }

    fn start_program(program: &'static str) -> io::Result<Self> {
        Self::start_with(program, Role::Plain)
    }

    fn start_with(program: &'static str, role: Role) -> io::Result<Self> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port()?;
            let dir = std::env::temp_dir().join(format!(
                "tollgate-redis-{}-{port}-{}",
                std::process::id(),
                STARTED.fetch_add(1, Ordering::Relaxed)
            ));
            // A leftover of an earlier process that had the same id.
            if dir.exists() {
                fs::remove_dir_all(&dir)?;
            }
            fs::create_dir_all(&dir)?;
            let mut server = Self {
                port,
                dir,
                child: None,
                program,
                role,
            };
            match server.launch() {
                Ok(()) => return Ok(server),
                // Someone took the port between `free_port` and the server's bind: another one.
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < PORT_ATTEMPTS => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// `redis://127.0.0.1:PORT/`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port the server listens on (the same across [`restart`](Self::restart)s).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Kills the server with `SIGKILL` and waits for it to exit, as a crash in the middle of a
    /// test would. Commands fail until [`restart`](Self::restart); killing twice is harmless.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Fails only if it has already exited; `wait` reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty, and waits until it answers `PING`. A
    /// server still running is [`kill`](Self::kill)ed first.
    ///
    /// While the port is still taken the start is retried for up to 5 s.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start), and [`io::ErrorKind::AddrInUse`] if the port stayed taken.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let deadline = Instant::now() + REBIND_WITHIN;
        loop {
            match self.launch() {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(100));
                }
                done => return done,
            }
        }
    }

    /// Sends one command over a fresh connection and returns its reply, read as RESP2:
    ///
    /// - a simple string (`+OK`) is its text (`OK`);
    /// - an integer (`:3`) is its digits (`3`);
    /// - a bulk string is its content (invalid UTF-8 replaced by U+FFFD), and the null bulk
    ///   string (`$-1`) is `(nil)`, as `redis-cli` prints it;
    /// - an array is its elements read by these rules, one per line (`\n`), so `KEYS *` gives one
    ///   key a line and an empty array gives `""`; the null array (`*-1`) is `(nil)`.
    ///
    /// # Errors
    ///
    /// The server is not reachable (killed, say), the connection failed or timed out (5 s), the
    /// reply is not RESP2, or it is an error reply (`-ERR ...`, anywhere in the reply): then an
    /// [`io::ErrorKind::Other`] error whose message is the server's, without the `-`.
    pub fn command(&self, args: &[&str]) -> io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&self.addr(), IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        stream.write_all(&request)?;
        read_reply(&mut BufReader::new(stream))
    }

    /// Spawns the server on `self.port` and waits until it answers `PING`.
    ///
    /// [`io::ErrorKind::AddrInUse`] if it could not bind the port, or if another server answered
    /// on it.
    fn launch(&mut self) -> io::Result<()> {
        let log_path = self.dir.join(LOG);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let log_from = log.metadata()?.len();
        let child = Command::new(self.program)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--loglevel", "warning"])
            .args(match self.role {
                Role::Plain => Vec::new(),
                Role::ClusterNode { bus } => vec![
                    "--cluster-enabled".to_owned(),
                    "yes".to_owned(),
                    "--cluster-port".to_owned(),
                    bus.to_string(),
                    "--cluster-config-file".to_owned(),
                    "nodes.conf".to_owned(),
                    "--cluster-node-timeout".to_owned(),
                    "2000".to_owned(),
                    // A node that fails leaves its slots unserved, not the whole cluster down.
                    "--cluster-require-full-coverage".to_owned(),
                    "no".to_owned(),
                ],
            })
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "`{}` is not on PATH: the tests that run against a real Redis need it \
                             (`bash .ci/test.sh setup` installs Debian's redis-server package)",
                            self.program
                        ),
                    )
                } else {
                    io::Error::new(e.kind(), format!("starting `{}`: {e}", self.program))
                }
            })?;
        self.child = Some(child);
        let result = self.wait_ready(log_from);
        if result.is_err() {
            self.kill();
        }
        result
    }

    /// Polls until the child answers `PING` and `INFO server` names its process id.
    fn wait_ready(&mut self, log_from: u64) -> io::Result<()> {
        let deadline = Instant::now() + READY_WITHIN;
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return Err(io::Error::other("no redis-server child to wait for"));
        };
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log = self.log_since(log_from);
                let kind = if log.contains("Address already in use") {
                    io::ErrorKind::AddrInUse
                } else {
                    io::ErrorKind::Other
                };
                return Err(io::Error::new(
                    kind,
                    format!(
                        "redis-server on port {} exited ({status}); its log:\n{log}",
                        self.port
                    ),
                ));
            }
            if self.command(&["PING"]).is_ok_and(|reply| reply == "PONG") {
                let info = self.command(&["INFO", "server"])?;
                let answered = info
                    .lines()
                    .find_map(|line| line.strip_prefix("process_id:"))
                    .and_then(|id| id.trim().parse::<u32>().ok());
                if answered == Some(pid) {
                    return Ok(());
                }
                // Another server holds the port; ours will fail to bind and exit.
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another server answers on port {}", self.port),
                ));
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "redis-server on port {} did not answer PING within {READY_WITHIN:?}; \
                         its log:\n{}",
                        self.port,
                        self.log_since(log_from)
                    ),
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the server logged from byte `from` on (for error messages).
    fn log_since(&self, from: u64) -> String {
        let mut text = String::new();
        let read = File::open(self.dir.join(LOG)).and_then(|mut log| {
            log.seek(SeekFrom::Start(from))?;
            log.read_to_string(&mut text)
        });
        match read {
            Ok(_) => text,
            Err(e) => format!("(log unreadable: {e})"),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of [`RedisServer`] nodes on loopback, each serving an equal share of the
/// 16,384 hash slots, no replicas, a node timeout of 2 s, and `cluster-require-full-coverage no`
/// (a node that dies takes only its own slots away). Dropping it kills every node.
///
/// ```
/// use tollgate_testkit::redis::RedisCluster;
///
/// let cluster = RedisCluster::start(3)?;
/// assert_eq!(cluster.nodes().len(), 3);
/// // A key lives on the node that serves its slot; the others redirect.
/// let home = cluster.node_of("k")?;
/// assert_eq!(cluster.nodes()[home].command(&["SET", "k", "v"])?, "OK");
/// assert!(cluster.nodes()[(home + 1) % 3].command(&["GET", "k"]).is_err()); // MOVED
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

/// The hash slots of a Redis Cluster.
const SLOTS: u32 = 16_384;
/// How long a new cluster may take to agree on its slots.
const CLUSTER_READY_WITHIN: Duration = Duration::from_secs(20);

impl RedisCluster {
    /// Starts `n` cluster nodes (at least one), gives each an equal share of the slots, joins
    /// them, and waits (up to 20 s) until every node reports the cluster `ok`.
    ///
    /// # Errors
    ///
    /// As [`RedisServer::start`], or the nodes did not agree in time.
    pub fn start(n: usize) -> io::Result<Self> {
        let n = n.max(1);
        let nodes = (0..n)
            .map(|_| RedisServer::start_with(REDIS_SERVER, Role::ClusterNode { bus: free_port()? }))
            .collect::<io::Result<Vec<_>>>()?;
        let share = SLOTS / n as u32;
        for (i, node) in nodes.iter().enumerate() {
            let first = share * i as u32;
            let last = if i + 1 == n {
                SLOTS - 1
            } else {
                first + share - 1
            };
            node.command(&[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &first.to_string(),
                &last.to_string(),
            ])?;
        }
        for node in &nodes[1..] {
            let Role::ClusterNode { bus } = node.role else {
                unreachable!("started as cluster nodes");
            };
            nodes[0].command(&[
                "CLUSTER",
                "MEET",
                "127.0.0.1",
                &node.port.to_string(),
                &bus.to_string(),
            ])?;
        }
        let cluster = Self { nodes };
        cluster.wait_ok()?;
        Ok(cluster)
    }

    fn wait_ok(&self) -> io::Result<()> {
        let deadline = Instant::now() + CLUSTER_READY_WITHIN;
        let n = self.nodes.len().to_string();
        loop {
            let mut last = String::new();
            let mut ready = true;
            for node in &self.nodes {
                let info = node.command(&["CLUSTER", "INFO"])?;
                let field = |name: &str| {
                    info.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_owned())
                };
                if field("cluster_state:").as_deref() != Some("ok")
                    || field("cluster_known_nodes:").as_deref() != Some(n.as_str())
                {
                    ready = false;
                    last = info;
                }
            }
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::other(format!(
                    "the cluster of {n} nodes did not come up; a node says:\n{last}"
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The nodes, in the order of their slots.
    #[must_use]
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Every node's URL (any one is enough for a cluster client to find the others).
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Kills node `i` ([`RedisServer::kill`]); the others go on serving their slots.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts node `i` again on its port with its cluster configuration (its id, its slots and
    /// the other nodes), empty of keys, and waits until every node reports the cluster `ok`.
    ///
    /// # Errors
    ///
    /// As [`RedisServer::restart`], or the nodes did not agree in time.
    pub fn restart(&mut self, i: usize) -> io::Result<()> {
        self.nodes[i].restart()?;
        self.wait_ok()
    }

    /// The index of the node serving `key`'s slot.
    ///
    /// # Errors
    ///
    /// The first node did not answer `CLUSTER KEYSLOT`.
    pub fn node_of(&self, key: &str) -> io::Result<usize> {
        let slot: u32 = self.nodes[0]
            .command(&["CLUSTER", "KEYSLOT", key])?
            .parse()
            .map_err(|_| invalid("slot"))?;
        let share = SLOTS / self.nodes.len() as u32;
        Ok(((slot / share) as usize).min(self.nodes.len() - 1))
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// One RESP2 reply, read as [`RedisServer::command`] documents.
fn read_reply(reader: &mut impl BufRead) -> io::Result<String> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at_checked(1).unwrap_or(("", ""));
    match kind {
        "+" | ":" => Ok(rest.to_owned()),
        "-" => Err(io::Error::other(rest.to_owned())),
        "$" => match length(rest)? {
            None => Ok("(nil)".to_owned()),
            Some(len) => {
                let mut bulk = vec![0; len + 2];
                reader.read_exact(&mut bulk)?;
                if !bulk.ends_with(b"\r\n") {
                    return Err(invalid("a bulk string not ended by CRLF"));
                }
                bulk.truncate(len);
                Ok(String::from_utf8_lossy(&bulk).into_owned())
            }
        },
        "*" => match length(rest)? {
            None => Ok("(nil)".to_owned()),
            Some(len) => {
                let items = (0..len)
                    .map(|_| read_reply(reader))
                    .collect::<io::Result<Vec<_>>>()?;
                Ok(items.join("\n"))
            }
        },
        _ => Err(invalid(&format!("not a RESP2 reply: {line:?}"))),
    }
}

/// A line without its CRLF.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the connection closed in the middle of a reply",
        ));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| invalid("a reply line that is not UTF-8"))
}

/// A bulk string's or an array's length; `None` for `-1` (null).
fn length(text: &str) -> io::Result<Option<usize>> {
    if text == "-1" {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| invalid(&format!("not a RESP2 length: {text:?}")))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_and_answers_ping() -> io::Result<()> {
        let redis = RedisServer::start()?;
        assert_eq!(redis.command(&["PING"])?, "PONG");
        assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/", redis.port()));
        assert_eq!(
            redis.addr(),
            SocketAddr::from(([127, 0, 0, 1], redis.port()))
        );
        Ok(())
    }

    #[test]
    fn replies_of_every_kind() -> io::Result<()> {
        let redis = RedisServer::start()?;
        assert_eq!(redis.command(&["SET", "a key", "a\r\nvalue"])?, "OK");
        assert_eq!(redis.command(&["GET", "a key"])?, "a\r\nvalue");
        assert_eq!(redis.command(&["GET", "missing"])?, "(nil)");
        assert_eq!(redis.command(&["SET", "empty", ""])?, "OK");
        assert_eq!(redis.command(&["GET", "empty"])?, "");
        assert_eq!(redis.command(&["DBSIZE"])?, "2");
        assert_eq!(redis.command(&["TTL", "a key"])?, "-1");
        assert_eq!(redis.command(&["TTL", "missing"])?, "-2");
        assert_eq!(redis.command(&["EXPIRE", "empty", "100"])?, "1");
        assert_eq!(redis.command(&["TTL", "empty"])?, "100");
        let mut keys: Vec<_> = redis
            .command(&["KEYS", "*"])?
            .lines()
            .map(str::to_owned)
            .collect();
        keys.sort();
        assert_eq!(keys, ["a key", "empty"]);
        assert_eq!(redis.command(&["KEYS", "none*"])?, "");
        let err = redis.command(&["INCR", "a key"]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert!(err.to_string().starts_with("ERR "), "{err}");
        assert_eq!(redis.command(&["SCRIPT", "FLUSH"])?, "OK");
        assert_eq!(redis.command(&["FLUSHALL"])?, "OK");
        assert_eq!(redis.command(&["DBSIZE"])?, "0");
        Ok(())
    }

    #[test]
    fn kill_then_restart_on_the_same_port() -> io::Result<()> {
        let mut redis = RedisServer::start()?;
        let port = redis.port();
        assert_eq!(redis.command(&["SET", "k", "v"])?, "OK");
        redis.kill();
        assert!(redis.command(&["PING"]).is_err());
        redis.kill();
        redis.restart()?;
        assert_eq!(redis.port(), port);
        assert_eq!(redis.command(&["PING"])?, "PONG");
        // No persistence: the restarted server is empty.
        assert_eq!(redis.command(&["DBSIZE"])?, "0");
        // A restart of a running server kills it first.
        redis.restart()?;
        assert_eq!(redis.command(&["PING"])?, "PONG");
        Ok(())
    }

    #[test]
    fn drop_ends_the_process_and_removes_the_directory() -> io::Result<()> {
        let redis = RedisServer::start()?;
        let dir = redis.dir.clone();
        let addr = redis.addr();
        let pid = redis.child.as_ref().map(Child::id).expect("running");
        assert!(dir.join(LOG).is_file());
        drop(redis);
        assert!(!dir.exists(), "{dir:?} is left");
        assert!(
            TcpStream::connect_timeout(&addr, IO_TIMEOUT).is_err(),
            "{addr} still answers"
        );
        if cfg!(target_os = "linux") {
            assert!(
                !PathBuf::from(format!("/proc/{pid}")).exists(),
                "process {pid} is left"
            );
        }
        Ok(())
    }

    #[test]
    fn missing_program_says_how_to_install_it() {
        let err = RedisServer::start_program("tollgate-no-such-redis-server").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let message = err.to_string();
        assert!(
            message.contains("tollgate-no-such-redis-server"),
            "{message}"
        );
        assert!(message.contains("bash .ci/test.sh setup"), "{message}");
    }

    #[test]
    fn reads_resp2() {
        let read = |bytes: &[u8]| read_reply(&mut &bytes[..]);
        assert_eq!(read(b"+OK\r\n").unwrap(), "OK");
        assert_eq!(read(b":-2\r\n").unwrap(), "-2");
        assert_eq!(read(b"$3\r\na\nb\r\n").unwrap(), "a\nb");
        assert_eq!(read(b"$-1\r\n").unwrap(), "(nil)");
        assert_eq!(read(b"*-1\r\n").unwrap(), "(nil)");
        assert_eq!(read(b"*0\r\n").unwrap(), "");
        assert_eq!(read(b"*2\r\n$1\r\na\r\n:1\r\n").unwrap(), "a\n1");
        assert_eq!(
            read(b"-NOSCRIPT no script\r\n").unwrap_err().to_string(),
            "NOSCRIPT no script"
        );
        assert_eq!(
            read(b"+OK").unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            read(b"$3\r\nab").unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            read(b"$2\r\nabcd\r\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            read(b"!x\r\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            read(b"\r\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
