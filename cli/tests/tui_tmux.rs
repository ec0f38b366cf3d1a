//! A smoke test of `orch tui` in a real terminal: the real binary runs in a private `tmux`
//! server (its own socket in a temp dir, a fixed 100x30 window, a scrubbed environment
//! with the capture's providers), driven with `send-keys` and read with `capture-pane`,
//! through list → pick docs → search fast → node:fast → apply sticky → verify, then `q`.
//! It checks the exit code, that the alternate screen was left, and that no secret was
//! ever on screen. The tmux server is killed by a guard, whatever happens.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use orch::testutil::{Poll, Sandbox, assert_no_secret, eventually_blocking};

const TMUX: &str = "/usr/bin/tmux";
const WAIT: Duration = Duration::from_secs(30);

/// A private tmux server; killed on drop.
struct Tmux {
    socket: PathBuf,
    screens: Vec<String>,
}

impl Tmux {
    #[expect(clippy::expect_used, reason = "test helper")]
    fn run(&self, args: &[&str]) -> Output {
        Command::new(TMUX)
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn start(socket: PathBuf, script: &Path) -> Self {
        Self::start_sized(socket, script, (100, 30))
    }

    fn start_sized(socket: PathBuf, script: &Path, (w, h): (u16, u16)) -> Self {
        let (w, h) = (w.to_string(), h.to_string());
        let t = Self {
            socket,
            screens: Vec::new(),
        };
        let out = t.run(&[
            "new-session",
            "-d",
            "-s",
            "orch",
            "-x",
            &w,
            "-y",
            &h,
            &format!("sh {}", script.display()),
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        t
    }

    fn capture(&mut self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "orch"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        self.screens.push(text.clone());
        text
    }

    fn alternate_on(&self) -> String {
        let out = self.run(&["display-message", "-p", "-t", "orch", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "orch"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "tmux send-keys {keys:?}: {out:?}");
    }

    fn literal(&self, text: &str) {
        let out = self.run(&["send-keys", "-t", "orch", "-l", text]);
        assert!(out.status.success(), "tmux send-keys -l {text}: {out:?}");
    }

    /// Waits until the pane shows every one of `needles`; returns the screen.
    fn wait_for(&mut self, needles: &[&str]) -> String {
        let poll = Poll::within(WAIT).every(Duration::from_millis(100));
        eventually_blocking(&format!("{needles:?} on the screen"), poll, || {
            let screen = self.capture();
            if needles.iter().all(|n| screen.contains(n)) {
                Ok(screen)
            } else {
                Err(screen)
            }
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// A sandbox with the capture's setup, and a script that runs `orch tui` there with only
/// the sandbox's environment plus PATH and TERM (ORCH_OPENCODE_BIN points nowhere: nothing can start a real OpenCode), writes its pid,
/// then prints its exit code and waits.
struct Setup {
    sandbox: Sandbox,
    paths: orch::paths::Paths,
    log: PathBuf,
    pid_file: PathBuf,
    script: PathBuf,
}

impl Setup {
    fn new() -> Self {
        assert!(Path::new(TMUX).exists(), "{TMUX} is needed for this test");
        let mut sandbox = Sandbox::capture(env!("CARGO_BIN_EXE_orch"));
        let root = sandbox.root().to_path_buf();
        sandbox.set("PATH", "/usr/bin:/bin");
        sandbox.set("TERM", "xterm-256color");
        sandbox.set("ORCH_OPENCODE_BIN", root.join("no-opencode"));
        Self::with(sandbox)
    }

    /// The same set-up again, after the sandbox's environment changed.
    fn rewrite(s: Self) -> Self {
        let Self { sandbox, .. } = s;
        Self::with(sandbox)
    }

    #[expect(clippy::expect_used, reason = "test set-up")]
    fn with(sandbox: Sandbox) -> Self {
        let root = sandbox.root().to_path_buf();
        let paths = sandbox.paths();
        let log = root.join("tui.log");
        let pid_file = root.join("orch.pid");
        let vars: Vec<String> = sandbox
            .vars()
            .map(|(k, v)| format!("'{k}={}'", v.replace('\'', "'\\''")))
            .collect();
        let script = root.join("run.sh");
        std::fs::write(
            &script,
            format!(
                "cd {} || exit 1\nsh -c 'echo $$ > \"$1\"; shift; exec \"$@\"' sh {} env -i {} {} tui --log {}\necho \"orch-exit=$?\"\nexec sleep 600\n",
                quote(&paths.project_dir),
                quote(&pid_file),
                vars.join(" "),
                quote(Path::new(env!("CARGO_BIN_EXE_orch"))),
                quote(&log),
            ),
        )
        .expect("the script that runs orch tui");
        Self {
            sandbox,
            paths,
            log,
            pid_file,
            script,
        }
    }

    fn tmux(&self) -> Tmux {
        Tmux::start(self.sandbox.root().join("tmux.sock"), &self.script)
    }

    fn tmux_sized(&self, size: (u16, u16)) -> Tmux {
        Tmux::start_sized(self.sandbox.root().join("tmux.sock"), &self.script, size)
    }
}

#[test]
fn tui_happy_path_in_tmux_exits_cleanly_and_restores_the_terminal() {
    let s = Setup::new();
    let (paths, log) = (&s.paths, &s.log);
    let mut t = s.tmux();
    t.wait_for(&["ANSWERED BY", "docs", "node:docs"]);
    assert_eq!(
        t.alternate_on(),
        "1",
        "the TUI runs on the alternate screen"
    );

    // docs is the third worker.
    t.keys(&["j", "j"]);
    t.wait_for(&["› docs"]);
    t.keys(&["Enter"]);
    // 74: the usable models that do text work (issue 11 leaves embedding, speech and guard models out).
    t.wait_for(&["Pick a model for docs", "tags 5 · models 74/74"]);
    t.literal("/fast");
    t.wait_for(&["search: fast", "node:fast → fake/fast-mini"]);
    t.keys(&["Enter"]);
    t.wait_for(&["/ search"]);
    t.keys(&["Enter"]);
    t.wait_for(&["Apply node:fast to docs", "Enter: apply"]);
    t.keys(&["s"]);
    t.wait_for(&["(•) sticky", "Enter: apply"]);
    t.keys(&["Enter"]);
    let screen = t.wait_for(&["Verify", "docs now uses fake/fast-mini (sticky)"]);
    assert!(screen.contains("node:fast*"), "{screen}");
    assert!(screen.contains("dynamic → sticky"), "{screen}");
    assert!(
        screen.contains("node:fast → fake/fast-mini: small_model from the OpenCode config"),
        "{screen}"
    );

    t.keys(&["q"]);
    let screen = t.wait_for(&["orch-exit="]);
    assert!(screen.contains("orch-exit=0"), "{screen}");
    assert_eq!(t.alternate_on(), "0", "the alternate screen was left");
    assert!(
        !screen.contains("Workers"),
        "the TUI is gone from the restored screen:\n{screen}"
    );
    for s in &t.screens {
        assert_no_secret("a tmux screen", s);
    }
    let logged = std::fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert_no_secret("tui.log", &logged);
    // The change was made by the real manager: it is in orch's state.
    let state = std::fs::read_dir(paths.project_state_dir())
        .expect("orch's state directory")
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect::<String>();
    assert!(state.contains("node:fast"), "{state}");
}

#[test]
fn sigterm_quits_and_restores_the_terminal() {
    let s = Setup::new();
    let mut t = s.tmux();
    t.wait_for(&["ANSWERED BY", "docs"]);
    assert_eq!(t.alternate_on(), "1");
    let pid: i32 = std::fs::read_to_string(&s.pid_file)
        .expect("orch tui's pid file")
        .trim()
        .parse()
        .expect("a pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("orch tui can be signalled");
    let screen = t.wait_for(&["orch-exit="]);
    assert!(screen.contains("orch-exit=0"), "{screen}");
    assert_eq!(t.alternate_on(), "0", "the alternate screen was left");
}

/// Issue 14, point 4, in a real terminal: a change made with the CLI shows in the TUI
/// without `r`, and after `orch restart` the TUI reconnects on its own and keeps
/// following changes.
#[test]
fn the_tui_follows_cli_changes_and_a_backend_restart() {
    let s = Setup::new();
    let mut t = s.tmux();
    t.wait_for(&["ANSWERED BY", "coder", "node:docs"]);
    let run = s.sandbox.run(&["worker-model-set", "coder", "node:fast"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // No key: the TUI's idle poll picks it up (every 1.5 s).
    let screen = t.wait_for(&["node:fast*"]);
    let coder = screen
        .lines()
        .find(|l| l.contains("coder "))
        .unwrap_or_else(|| panic!("no coder row:\n{screen}"));
    assert!(coder.contains("node:fast*"), "{coder}");

    let run = s.sandbox.run(&["restart"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    t.wait_for(&["reconnected to the orch backend"]);
    let run = s
        .sandbox
        .run(&["worker-model-set", "architect", "node:fast"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The new backend's change shows too (no key pressed).
    let poll = Poll::within(WAIT).every(Duration::from_millis(100));
    eventually_blocking("architect on node:fast* in the TUI", poll, || {
        let screen = t.capture();
        match screen.lines().find(|l| l.contains("architect ")) {
            Some(row) if row.contains("node:fast*") => Ok(()),
            _ => Err(screen),
        }
    });

    t.keys(&["q"]);
    let screen = t.wait_for(&["orch-exit="]);
    assert!(screen.contains("orch-exit=0"), "{screen}");
    for s in &t.screens {
        assert_no_secret("a tmux screen", s);
    }
}

/// Issue 14 in a real terminal at 80x24 and 160x48: an exact model id typed is the row
/// Enter applies, the changed row reads whole on Verify with its `*`, the policies are
/// explained, and `R` asks first and shows as "before" the state it replaced.
#[test]
fn exact_id_long_row_and_reset_at_80x24_and_160x48() {
    const LONG: &str = "opencode/muse-spark-1.3-contributor-free";
    for size in [(80, 24), (160, 48)] {
        let s = Setup::new();
        let mut t = s.tmux_sized(size);
        t.wait_for(&["WORKER", "docs", "node:docs"]);
        t.keys(&["j", "j"]);
        t.wait_for(&["› docs"]);
        t.keys(&["Enter"]);
        // Once the models are loaded (a slow machine takes a moment).
        t.wait_for(&["Pick a model for docs", "tags 5 · models 74/74"]);
        t.literal(&format!("/{LONG}"));
        t.wait_for(&[&format!("search: {LONG}")]);
        t.keys(&["Enter"]);
        t.wait_for(&["/ search"]);
        t.keys(&["Enter"]);
        let screen = t.wait_for(&[&format!("Apply {LONG} to docs"), "Enter: apply"]);
        assert!(
            screen.contains("dynamic rides on each message"),
            "{size:?}:\n{screen}"
        );
        assert!(
            screen.contains("sticky  also the worker's default"),
            "{size:?}:\n{screen}"
        );
        t.keys(&["Enter"]);
        let screen = t.wait_for(&["Verify", &format!("docs now uses {LONG}")]);
        let row = screen
            .lines()
            .find(|l| l.contains("│› docs"))
            .unwrap_or_else(|| panic!("{size:?}: no docs row:\n{screen}"));
        assert!(row.contains(&format!("{LONG}*")), "{size:?}: {row}");
        t.keys(&["R"]);
        t.wait_for(&["to its configured model? y/n"]);
        t.keys(&["y"]);
        let screen = t.wait_for(&["docs reset to node:docs"]);
        assert!(
            screen.contains(&format!("model ref {LONG} → node:docs")),
            "{size:?}: the before is the state replaced:\n{screen}"
        );
        t.keys(&["R"]);
        t.wait_for(&["nothing to reset"]);
        t.keys(&["q"]);
        let screen = t.wait_for(&["orch-exit="]);
        assert!(screen.contains("orch-exit=0"), "{size:?}: {screen}");
        for s in &t.screens {
            assert_no_secret("a tmux screen", s);
        }
    }
}

/// Issue 14, point 5, in a real terminal: a probe on a worker whose OpenCode never gets
/// ready shows its elapsed time; `c` cancels it; `q` during another probe quits at once and
/// leaves no task running in the backend.
#[test]
fn a_probe_shows_its_time_and_c_or_q_cancel_it() {
    let mut s = Setup::new();
    // An OpenCode that never answers: the probe waits for it to get ready.
    let hang = s.sandbox.root().join("hang-opencode");
    std::fs::write(&hang, "#!/bin/sh\nexec sleep 60\n").expect("the hanging OpenCode");
    std::fs::set_permissions(&hang, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("it is executable");
    s.sandbox.set("ORCH_OPENCODE_BIN", &hang);
    let s = Setup::rewrite(s);
    let mut t = s.tmux_sized((80, 24));
    t.wait_for(&["WORKER", "docs"]);
    t.keys(&["j", "j"]);
    t.wait_for(&["› docs"]);
    t.keys(&["p"]);
    let screen = t.wait_for(&["running a tiny task… 2s (Esc or c cancels)"]);
    assert!(screen.contains("Esc/c cancel the probe"), "{screen}");
    t.keys(&["c"]);
    t.wait_for(&["the probe was cancelled"]);
    t.keys(&["Escape"]);
    t.wait_for(&["Enter pick a model"]);
    t.keys(&["p"]);
    t.wait_for(&["running a tiny task… 1s"]);
    t.keys(&["q"]);
    let screen = t.wait_for(&["orch-exit="]);
    assert!(screen.contains("orch-exit=0"), "{screen}");
    // The backend (still running, detached) has no task left running.
    let poll = Poll::within(WAIT).every(Duration::from_millis(200));
    eventually_blocking("no task runs in the backend", poll, || {
        let run = s.sandbox.run(&["--format", "json", "tasks"]);
        let view: serde_json::Value = run.json();
        let active = view["active"].as_u64().unwrap_or(u64::MAX);
        if active == 0 { Ok(()) } else { Err(run.stdout) }
    });
}
