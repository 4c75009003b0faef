//! The command surface: `check` against the sandbox (plain and behind a TLS front),
//! `completions` and `man` checked by the tools that read them, and `demo` leaving nothing
//! behind in the temporary folder unless `--keep`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::tls_front::TlsFront;
use crate::util::Work;

const BIN: &str = env!("CARGO_BIN_EXE_cartevo-enroll");

/// The sandbox in its own process, stopped on drop.
struct Sandbox {
    child: Child,
    url: String,
}

impl Sandbox {
    fn start() -> Sandbox {
        let args = ["--token", "right-token", "--client-id", "ops"];
        let (child, url) = crate::util::spawn_sandbox(
            &[&args[..], &["--client-key", "client-key-secret"]].concat(),
            Stdio::null(),
        );
        Sandbox { child, url }
    }

    fn addr(&self) -> std::net::SocketAddr {
        let rest = self.url.trim_start_matches("http://");
        rest.split_once('/').unwrap().0.parse().unwrap()
    }

    /// `meta.total` of GET /customers, asked over a plain socket.
    fn customers(&self) -> u64 {
        let mut stream = std::net::TcpStream::connect(self.addr()).unwrap();
        write!(
            stream,
            "GET /api/v1/customers?limit=1 HTTP/1.0\r\nAuthorization: Bearer right-token\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let body = answer.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["meta"]["total"].as_u64().unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cartevo-enroll check --base-url URL ARGS` with only the credentials in `env`.
fn check(base_url: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    for name in [
        "CARTEVO_API_TOKEN",
        "CARTEVO_CLIENT_ID",
        "CARTEVO_CLIENT_KEY",
        "CARTEVO_BASE_URL",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "RUST_LOG",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied())
        .args(["check", "--base-url", base_url, "--timeout", "10"])
        .args(args)
        .output()
        .unwrap()
}

/// Each step's state, by the step's name, as the check printed them in order.
fn steps(out: &Output) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(&out.stderr);
    ["base URL", "TLS", "credentials", "read"]
        .iter()
        .map(|step| {
            let line = text
                .lines()
                .find(|l| l.starts_with(step))
                .unwrap_or_else(|| panic!("no line for {step} in:\n{text}"));
            let state = line[12..].split_whitespace().next().unwrap().to_string();
            (step.to_string(), state)
        })
        .collect()
}

#[track_caller]
fn assert_steps(out: &Output, states: [&str; 4], code: i32) {
    let text = String::from_utf8_lossy(&out.stderr);
    let got: Vec<String> = steps(out).into_iter().map(|(_, s)| s).collect();
    assert_eq!(got, states, "{text}");
    assert_eq!(out.status.code(), Some(code), "{text}");
    assert!(out.stdout.is_empty(), "check writes on stderr only");
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn check_passes_with_either_kind_of_credentials_and_creates_nothing() {
    let sandbox = Sandbox::start();
    let token = check(&sandbox.url, &[("CARTEVO_API_TOKEN", "right-token")], &[]);
    assert_steps(&token, ["ok", "not", "ok", "ok"], 0);
    let client = check(
        &sandbox.url,
        &[
            ("CARTEVO_CLIENT_ID", "ops"),
            ("CARTEVO_CLIENT_KEY", "client-key-secret"),
        ],
        &[],
    );
    assert_steps(&client, ["ok", "not", "ok", "ok"], 0);
    assert!(
        stderr(&client).contains("POST /auth/token"),
        "{}",
        stderr(&client)
    );
    assert!(stderr(&client).contains("GET /customers?limit=1"));
    assert_eq!(sandbox.customers(), 0, "check creates nothing");
}

#[test]
fn refused_credentials_fail_their_step_without_showing_the_secret() {
    let sandbox = Sandbox::start();
    let out = check(
        &sandbox.url,
        &[("CARTEVO_API_TOKEN", "wrong-token-4711")],
        &[],
    );
    assert_steps(&out, ["ok", "not", "failed", "skipped"], 1);
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("wrong-token-4711"));

    let out = check(
        &sandbox.url,
        &[
            ("CARTEVO_CLIENT_ID", "ops"),
            ("CARTEVO_CLIENT_KEY", "not-the-key-0815"),
        ],
        &[],
    );
    assert_steps(&out, ["ok", "not", "failed", "skipped"], 1);
    assert!(!stderr(&out).contains("not-the-key-0815"));

    let out = check(&sandbox.url, &[], &[]);
    assert_steps(&out, ["ok", "not", "failed", "skipped"], 1);
    assert!(stderr(&out).contains("no credentials"), "{}", stderr(&out));
}

#[test]
fn nothing_listening_fails_the_base_url() {
    // A port that was free a moment ago: nothing listens on it now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/api/v1");
    let out = check(&url, &[("CARTEVO_API_TOKEN", "right-token")], &[]);
    assert_steps(&out, ["failed", "skipped", "skipped", "skipped"], 1);
    assert!(
        stderr(&out).contains("could not connect"),
        "{}",
        stderr(&out)
    );

    let out = check(
        "http://api.example.com/api/v1",
        &[("CARTEVO_API_TOKEN", "t")],
        &[],
    );
    assert_steps(&out, ["failed", "skipped", "skipped", "skipped"], 1);
    assert!(stderr(&out).contains("plain http://"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_certificate_fails_tls_and_its_ca_makes_it_pass() {
    let sandbox = Sandbox::start();
    let front = TlsFront::start(sandbox.addr()).await;
    let work = Work::new();
    let env = [("CARTEVO_API_TOKEN", "right-token")];

    let out = check(&front.base_url(), &env, &[]);
    assert_steps(&out, ["ok", "failed", "skipped", "skipped"], 1);
    assert!(
        stderr(&out).contains("certificate is not trusted") && stderr(&out).contains("--ca-cert"),
        "{}",
        stderr(&out)
    );

    let ca = front.write_ca(work.dir.path(), "ca.pem");
    let out = check(
        &front.base_url(),
        &env,
        &["--ca-cert", ca.to_str().unwrap()],
    );
    assert_steps(&out, ["ok", "ok", "ok", "ok"], 0);
    assert!(stderr(&out).contains("TLS 1."), "{}", stderr(&out));
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out
}

/// The commands `--help` lists, clap's own `help` aside.
fn subcommands() -> Vec<String> {
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    let list = help.split("Commands:").nth(1).unwrap();
    let names: Vec<String> = list
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|n| n != "help")
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    names
}

#[test]
fn completion_scripts_cover_every_command_and_bash_reads_its_own() {
    let work = Work::new();
    let bash = String::from_utf8(run(&["completions", "bash"]).stdout).unwrap();
    for name in subcommands() {
        assert!(bash.contains(&name), "bash completion lacks {name}");
    }
    assert!(bash.contains("--no-provider-enroll"));
    // bash itself: the script parses, and once sourced completes "cartevo-enroll ch".
    let script = work.write("cartevo-enroll.bash", bash.as_bytes());
    // The function is the one the script registers for the command (`complete -F NAME`).
    let probe = format!(
        "source '{}'; f=$(complete -p cartevo-enroll | sed 's/.*-F \\([^ ]*\\).*/\\1/'); \
         COMP_WORDS=(cartevo-enroll ch); COMP_CWORD=1; COMP_LINE='cartevo-enroll ch'; \
         COMP_POINT=${{#COMP_LINE}}; \"$f\" cartevo-enroll ch cartevo-enroll; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let replies = String::from_utf8(out.stdout).unwrap();
    assert_eq!(replies.trim(), "check", "{replies}");
    // A command's own flags complete too.
    let probe = format!(
        "source '{}'; f=$(complete -p cartevo-enroll | sed 's/.*-F \\([^ ]*\\).*/\\1/'); \
         COMP_WORDS=(cartevo-enroll run --metr); COMP_CWORD=2; \
         COMP_LINE='cartevo-enroll run --metr'; COMP_POINT=${{#COMP_LINE}}; \
         \"$f\" cartevo-enroll --metr run; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let replies = String::from_utf8(out.stdout).unwrap();
    assert_eq!(replies.trim(), "--metrics-file", "{replies}");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let script = String::from_utf8(run(&["completions", shell]).stdout).unwrap();
        for name in ["validate", "run", "reconcile", "check", "completions"] {
            assert!(script.contains(name), "{shell} completion lacks {name}");
        }
    }
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unknown shell is a bad argument"
    );
}

#[test]
fn the_man_page_renders_with_a_section_per_command() {
    let page = String::from_utf8(run(&["man"]).stdout).unwrap();
    assert!(page.contains(".TH cartevo-enroll 1"), "{page}");
    assert!(page.contains(".SH NAME"));
    for name in subcommands() {
        let heading = format!(".SH \"COMMAND: CARTEVO-ENROLL {}\"", name.to_uppercase());
        assert!(page.contains(&heading), "no {heading}");
    }
    assert!(page.contains("CARTEVO_CLIENT_KEY"));
    // groff, where the machine has it: no warning at all (-ww), and the text as man shows it.
    let work = Work::new();
    let file = work.write("cartevo-enroll.1", page.as_bytes());
    let Ok(out) = Command::new("groff")
        // -P-cbou: plain text, without bold or underline.
        .args(["-k", "-man", "-Tutf8", "-ww", "-P-cbou"])
        .arg(&file)
        .output()
    else {
        eprintln!("groff is not installed: the roff structure alone was checked");
        return;
    };
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "groff warned");
    let text = String::from_utf8_lossy(&out.stdout);
    for shown in [
        "NAME",
        "SYNOPSIS",
        "COMMAND: CARTEVO-ENROLL CHECK",
        "Exit codes:",
    ] {
        assert!(text.contains(shown), "{shown} not rendered");
    }
}

/// `demo` with its temporary folder under `tmp`.
fn demo(tmp: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("demo")
        .args(args)
        .env("TMPDIR", tmp)
        .env_remove("RUST_LOG")
        .env_remove("CARTEVO_JOURNAL_KEY")
        .output()
        .unwrap()
}

#[test]
fn demo_removes_its_work_folder_unless_kept() {
    let work = Work::new();
    let tmp = work.path("tmp");
    std::fs::create_dir(&tmp).unwrap();

    let out = demo(&tmp, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}\n{}", stderr(&out));
    assert!(stderr(&out).contains("work folder removed"));
    // No report folder on stdout that no longer exists.
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = demo(&tmp, &["--keep"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let text = stderr(&out);
    let kept = text
        .lines()
        .find_map(|l| l.strip_prefix("work folder kept: "))
        .unwrap_or_else(|| panic!("no kept folder in:\n{text}"));
    let kept = Path::new(kept);
    assert!(kept.starts_with(&tmp), "{}", kept.display());
    assert!(kept.join("reports/customers/results.csv").is_file());
    assert!(kept.join("cartevo-enroll.db").is_file());

    // The user's own folder is never removed, --keep or not; the temporary folder is unused.
    std::fs::remove_dir_all(kept).unwrap();
    let mine = work.path("mine");
    let out = demo(&tmp, &["--workdir", mine.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(mine.join("reports/customers/results.csv").is_file());
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}
