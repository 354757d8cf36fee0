//! A private `nats-server` for tests that need a server configuration of their own (users and
//! permissions of `deploy/nats/joule.conf`): a free loopback port, JetStream in a temporary
//! directory, killed and removed on drop. Never the machine's shared server.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `deploy/nats/` of this repository.
pub fn deploy_nats_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nats")
}

/// The development password of `user` in `deploy/nats/dev-passwords.env`.
pub fn dev_nats_password(user: &str) -> String {
    let path = deploy_nats_dir().join("dev-passwords.env");
    let text = std::fs::read_to_string(&path).expect("deploy/nats/dev-passwords.env");
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .find(|(u, _)| u.trim() == user)
        .map(|(_, p)| p.trim().to_owned())
        .unwrap_or_else(|| panic!("no password for NATS user {user} in {}", path.display()))
}

pub struct NatsServer {
    child: Child,
    pub url: String,
    dir: PathBuf,
}

impl NatsServer {
    /// Starts `nats-server -c <config>` on a free loopback port with JetStream stored in a fresh
    /// temporary directory. The binary is `JOULE_TEST_NATS_SERVER`, else `nats-server` on the PATH,
    /// else Debian's `/usr/sbin/nats-server`.
    pub async fn start(config: &Path) -> Self {
        Self::start_in(new_dir(), config).await
    }

    /// Starts a server whose configuration is `text` (written into its temporary directory).
    pub async fn with_config_text(text: &str) -> Self {
        let dir = new_dir();
        let config = dir.join("server.conf");
        std::fs::write(&config, text).expect("write the server configuration");
        Self::start_in(dir, &config).await
    }

    async fn start_in(dir: PathBuf, config: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::fs::File::create(dir.join("server.log")).expect("log file");
        let child = Command::new(server_binary())
            .arg("-c")
            .arg(config)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.join("jetstream"))
            .arg("-l")
            .arg(dir.join("server.log"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server starts (set JOULE_TEST_NATS_SERVER to its path)");
        let mut server = Self {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            dir,
        };
        server.wait_until_listening(port).await;
        server
    }

    /// Starts a server with `deploy/nats/joule.conf`.
    pub async fn with_deploy_config() -> Self {
        Self::start(&deploy_nats_dir().join("joule.conf")).await
    }

    async fn wait_until_listening(&mut self, port: u16) {
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nats-server exited ({status}): {}", self.log());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server did not listen on {port}: {}", self.log());
    }

    /// What the server logged so far (permission violations, for instance).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.join("server.log")) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }
}

fn new_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("joule-nats-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("JOULE_TEST_NATS_SERVER")
        && !path.is_empty()
    {
        return path.into();
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("nats-server"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| "/usr/sbin/nats-server".into())
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
