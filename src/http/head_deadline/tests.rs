//! The deadline on tokio's paused clock: exact instants, no sleeps that decide.

use super::*;

const T: Duration = Duration::from_millis(300);

/// The moment `watch` resolves, run as its own task from now.
fn watching(activity: &Arc<Activity>) -> tokio::task::JoinHandle<Instant> {
    let activity = Arc::clone(activity);
    tokio::spawn(async move {
        watch(&activity, T).await;
        Instant::now()
    })
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed_at_the_timeout() {
    let activity = Activity::new();
    let opened = Instant::now();
    assert_eq!(watching(&activity).await.unwrap() - opened, T);
}

#[tokio::test(start_paused = true)]
async fn a_request_being_served_is_never_cut_and_its_answer_restarts_the_clock() {
    let activity = Activity::new();
    let start = Instant::now();
    let serving = activity.begin();
    let watcher = watching(&activity);
    // Served for three timeouts, then answered: closed one timeout after the answer.
    tokio::time::sleep(3 * T).await;
    assert!(!watcher.is_finished());
    drop(serving);
    assert_eq!(watcher.await.unwrap() - start, 4 * T);
}

#[tokio::test(start_paused = true)]
async fn each_answered_request_moves_the_deadline() {
    let activity = Activity::new();
    let start = Instant::now();
    let watcher = watching(&activity);
    for _ in 0..3 {
        tokio::time::sleep(T / 2).await;
        drop(activity.begin());
    }
    // Last answer at 1.5 T: the head deadline is 2.5 T.
    assert_eq!(watcher.await.unwrap() - start, T * 5 / 2);
}

/// A service whose one response waits for the test's word.
struct Gate(std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<()>>>);

impl hyper::service::Service<()> for Gate {
    type Response = &'static str;
    type Error = tokio::sync::oneshot::error::RecvError;
    type Future = Pin<Box<dyn Future<Output = Result<&'static str, Self::Error>> + Send>>;

    fn call(&self, (): ()) -> Self::Future {
        let answered = self.0.lock().unwrap().take().expect("one request");
        Box::pin(async move { answered.await.map(|()| "response") })
    }
}

/// The service wrapper marks a request from its call until its response resolves.
#[tokio::test(start_paused = true)]
async fn the_tracked_service_marks_a_request_until_its_response() {
    let activity = Activity::new();
    let (answer, answered) = tokio::sync::oneshot::channel();
    let service = Tracked::new(Gate(std::sync::Mutex::new(Some(answered))), Arc::clone(&activity));
    let response = hyper::service::Service::call(&service, ());
    assert!(activity.serving());
    let response = tokio::spawn(response);
    tokio::time::sleep(T).await;
    assert!(activity.serving());
    answer.send(()).unwrap();
    assert_eq!(response.await.unwrap().unwrap(), "response");
    assert!(!activity.serving());
    assert_eq!(activity.idle_since() - activity.opened, T);
}

/// Bytes written restart the clock: a client that reads a long answer slowly keeps its
/// connection, one that stops reading loses it a timeout after the last bytes moved.
#[tokio::test(start_paused = true)]
async fn each_write_that_moves_bytes_restarts_the_clock() {
    use tokio::io::AsyncWriteExt;
    let activity = Activity::new();
    let start = Instant::now();
    // The peer holds 8 bytes unread at most.
    let (socket, mut peer) = tokio::io::duplex(8);
    let mut socket = Watched::new(socket, Arc::clone(&activity));
    let watcher = watching(&activity);
    tokio::time::sleep(T / 2).await;
    socket.write_all(b"12345678").await.unwrap();
    // The peer's buffer is full: this write waits, moving nothing.
    let blocked = tokio::spawn(async move { socket.write_all(b"9").await.map(|()| socket) });
    tokio::time::sleep(T / 4).await;
    assert!(!blocked.is_finished());
    // Closed a timeout after the last bytes moved (at T / 2).
    assert_eq!(watcher.await.unwrap() - start, T * 3 / 2);
    let mut read = [0u8; 8];
    tokio::io::AsyncReadExt::read_exact(&mut peer, &mut read).await.unwrap();
    assert_eq!(&read, b"12345678");
    blocked.await.unwrap().unwrap();
}
