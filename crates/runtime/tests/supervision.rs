//! Task supervision: a task that panics is restarted; one that keeps failing stops the process.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use joule_runtime::{BoxError, Context, ServiceDef, Started, Task};
use joule_testkit::TestEnv;

static FLAKY_STARTS: AtomicU32 = AtomicU32::new(0);

/// Panics in its first two runs, then runs until shutdown.
async fn flaky(ctx: Context) -> Result<Started, BoxError> {
    let shutdown = ctx.shutdown.clone();
    Ok(Started {
        tasks: vec![Task::restartable("flaky", move || {
            let shutdown = shutdown.clone();
            async move {
                let run = FLAKY_STARTS.fetch_add(1, Ordering::SeqCst) + 1;
                if run <= 2 {
                    panic!("flaky run {run}");
                }
                shutdown.cancelled().await;
                Ok::<(), BoxError>(())
            }
        })],
        grpc: None,
    })
}

const FLAKY: ServiceDef = ServiceDef {
    name: "flaky",
    start: |ctx| Box::pin(flaky(ctx)),
};

static BROKEN_STARTS: AtomicU32 = AtomicU32::new(0);

/// Panics every time.
async fn broken(_ctx: Context) -> Result<Started, BoxError> {
    Ok(Started {
        tasks: vec![Task::restartable("broken", || async {
            let run = BROKEN_STARTS.fetch_add(1, Ordering::SeqCst) + 1;
            if run < u32::MAX {
                panic!("broken run {run}");
            }
            Ok::<(), BoxError>(())
        })],
        grpc: None,
    })
}

const BROKEN: ServiceDef = ServiceDef {
    name: "broken",
    start: |ctx| Box::pin(broken(ctx)),
};

#[tokio::test]
async fn a_task_that_panics_is_restarted_and_the_process_stays_up() {
    let env = TestEnv::new().await;
    let running = joule_runtime::spawn(env.settings(), &[FLAKY])
        .await
        .expect("spawn");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while FLAKY_STARTS.load(Ordering::SeqCst) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "never restarted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!running.shutdown.is_cancelled(), "the process goes on");
    running
        .stop()
        .await
        .expect("a clean stop after the restarts");
    assert_eq!(FLAKY_STARTS.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_task_that_keeps_panicking_stops_the_process_with_an_error() {
    let env = TestEnv::new().await;
    let mut settings = env.settings();
    settings.task_max_restarts = 2;
    let running = joule_runtime::spawn(settings, &[BROKEN])
        .await
        .expect("spawn");
    let error = tokio::time::timeout(Duration::from_secs(60), running.wait())
        .await
        .expect("the runtime gives up")
        .expect_err("a failure");
    let text = error.to_string();
    assert!(
        text.contains("task broken panicked: broken run 3"),
        "{text}"
    );
    assert!(text.contains("giving up"), "{text}");
    assert_eq!(BROKEN_STARTS.load(Ordering::SeqCst), 3, "two restarts");
}
