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
