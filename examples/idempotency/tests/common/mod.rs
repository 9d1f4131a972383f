//! What the integration tests share: starting the service, building bodies, reading replies.
#![allow(dead_code)] // each test binary uses a part

use std::sync::OnceLock;
use std::time::Duration;

use idempotency_service::{metrics, AppState, Config, Service};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{json, Value};

/// The LLM stand-in's latency in tests: long enough that concurrent requests overlap.
pub const LLM_LATENCY: Duration = Duration::from_millis(200);
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A config for an in-process service on a free port.
pub fn config() -> Config {
    Config::default()
        .with_bind_addr(([127, 0, 0, 1], 0).into())
        .with_llm_latency(LLM_LATENCY)
        .with_admin_token(Some(ADMIN_TOKEN.to_owned()))
}

pub async fn start() -> Service {
    start_with(config()).await
}

/// The test process's one metrics recorder, installed by the first service started, as `main`
/// installs it before serving.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| metrics::builder().install_recorder().expect("no other recorder")).clone()
}

pub async fn start_with(config: Config) -> Service {
    idempotency_service::spawn(AppState::new(config, prometheus())).await.expect("the service starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("a client")
}

/// A full request for `meeting_id`; tests use distinct meeting ids, so their keys never meet.
pub fn meeting(meeting_id: &str) -> Value {
    json!({
        "transcript": "Cliente: Olá, gostaria de investir. Vou enviar os documentos amanhã. Ótimo atendimento, obrigado!",
        "metadata": {"meeting_id": meeting_id, "customer_id": "CUST-001", "meet_date": "2025-10-15T10:00:00Z"}
    })
}

/// A reply with its raw bytes, to compare bodies byte for byte.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub x_cache: Option<String>,
    pub request_id: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    pub fn cache(&self) -> &str {
        self.x_cache.as_deref().unwrap_or("<none>")
    }
}

pub async fn read(response: reqwest::Response) -> Reply {
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (x_cache, request_id, content_type) = (header("x-cache"), header("x-request-id"), header("content-type"));
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("a body").to_vec();
    Reply { status, x_cache, request_id, content_type, bytes }
}

pub async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> Reply {
    read(client.post(url).json(body).send().await.expect("the request is sent")).await
}

pub async fn post_raw(client: &reqwest::Client, url: &str, body: &str) -> Reply {
    let request = client.post(url).header("content-type", "application/json").body(body.to_owned());
    read(request.send().await.expect("the request is sent")).await
}

/// The value of the one series of `metric` whose labels include all of `labels` (`k="v"` pairs).
pub fn metric(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (name, rest) = series.split_once('{').unwrap_or((series, ""));
        (name == metric && labels.iter().all(|label| rest.contains(label))).then(|| value.parse().ok())?
    })
}
