//! The stand-in for the LLM: slow, metered, and priced like the real thing.
//!
//! Each call waits the configured latency (`LLM_LATENCY_MS`, 2 s by default), then derives its
//! answer from the transcript with plain text rules, so that answers are deterministic and tests
//! can check them. It counts its calls and tokens (prompt: a fixed instruction size plus one token
//! per four characters of transcript; completion: one per four characters of the answer) and
//! prices them at `LLM_INPUT_USD_PER_MTOK` / `LLM_OUTPUT_USD_PER_MTOK` (GPT-4o's list prices by
//! default). Replace the bodies of [`Llm::extract`] and [`Llm::analyze`] with a real client; the
//! rest of the service does not change.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::metrics as m;
use crate::request::Metadata;

/// The model name the answers carry.
pub const MODEL: &str = "llm-stand-in-1";

/// Token prices in USD per million tokens.
///
/// ```
/// let pricing = idempotency_service::llm::Pricing::default();
/// assert_eq!(pricing.cost_usd(1_000_000, 0), 2.50);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pricing {
    /// USD per million prompt tokens.
    pub input_usd_per_mtok: f64,
    /// USD per million completion tokens.
    pub output_usd_per_mtok: f64,
}

impl Default for Pricing {
    /// GPT-4o's list prices, as the original service estimated: $2.50 in, $10.00 out.
    fn default() -> Self {
        Pricing { input_usd_per_mtok: 2.50, output_usd_per_mtok: 10.00 }
    }
}

impl Pricing {
    /// The estimated cost of a call.
    pub fn cost_usd(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        (prompt_tokens as f64 * self.input_usd_per_mtok + completion_tokens as f64 * self.output_usd_per_mtok) / 1e6
    }
}

/// What one call used, as the answer records it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens sent.
    pub prompt_tokens: u64,
    /// Tokens received.
    pub completion_tokens: u64,
    /// Their estimated price.
    pub estimated_cost_usd: f64,
}

/// The two things the service asks the LLM to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Summary, key points and action items.
    Extract,
    /// Sentiment and risk signals.
    Analyze,
}

impl Operation {
    /// `"extract"` or `"analyze"`: the label in metrics and logs.
    ///
    /// ```
    /// assert_eq!(idempotency_service::llm::Operation::Analyze.as_str(), "analyze");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Extract => "extract",
            Operation::Analyze => "analyze",
        }
    }

    fn instruction_tokens(self) -> u64 {
        match self {
            Operation::Extract => 420,
            Operation::Analyze => 310,
        }
    }
}

/// The answer of `/extract`: what the cache stores under `extract:{idempotency_key}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    /// Copied from the request.
    pub meeting_id: Option<String>,
    /// Copied from the request.
    pub customer_id: Option<String>,
    /// Copied from the request, in UTC.
    pub meet_date: Option<String>,
    /// The first sentences of the transcript.
    pub summary: String,
    /// The most substantial sentences, in order.
    pub key_points: Vec<String>,
    /// Sentences that promise or ask for something.
    pub action_items: Vec<String>,
    /// Which model answered.
    pub model: String,
    /// What the call cost.
    pub usage: Usage,
    /// When the LLM answered (RFC 3339, UTC): a cached answer keeps it.
    pub processed_at: String,
}

/// How a meeting felt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Sentiment {
    /// More positive words than negative ones.
    Positive,
    /// Balanced, or neither.
    Neutral,
    /// More negative words than positive ones.
    Negative,
}

/// The answer of `/analyze`: what the cache stores under `analyze:{idempotency_key}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Copied from the request.
    pub meeting_id: Option<String>,
    /// Copied from the request.
    pub customer_id: Option<String>,
    /// Copied from the request, in UTC.
    pub meet_date: Option<String>,
    /// The overall sentiment.
    pub sentiment: Sentiment,
    /// From -1 (negative) to 1 (positive).
    pub sentiment_score: f64,
    /// Positive words found, in order.
    pub positive_signals: Vec<String>,
    /// Negative words found, in order.
    pub negative_signals: Vec<String>,
    /// `churn_risk`, `complaint`, `price_objection`.
    pub risk_flags: Vec<String>,
    /// Which model answered.
    pub model: String,
    /// What the call cost.
    pub usage: Usage,
    /// When the LLM answered (RFC 3339, UTC): a cached answer keeps it.
    pub processed_at: String,
}

/// A failed LLM call. Never cached: the next identical request calls the LLM again.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The provider did not answer.
    #[error("the LLM provider is unavailable")]
    Unavailable,
}

/// Counters of an [`Llm`] since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LlmStats {
    /// Calls started, failed ones included.
    pub calls: u64,
    /// Calls that failed.
    pub failures: u64,
    /// Prompt tokens of the successful calls.
    pub prompt_tokens: u64,
    /// Completion tokens of the successful calls.
    pub completion_tokens: u64,
}

/// The LLM client: a cheap `Clone` handle; clones share the counters.
///
/// ```
/// use std::time::Duration;
/// use idempotency_service::llm::{Llm, Pricing};
/// use idempotency_service::request::Metadata;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), idempotency_service::llm::LlmError> {
/// let llm = Llm::new(Duration::ZERO, Pricing::default());
/// let answer = llm.extract("Client: we will sign next week. Thanks!", &Metadata::default()).await?;
/// assert_eq!(answer.action_items, ["Client: we will sign next week."]);
/// assert_eq!(llm.stats().calls, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Llm {
    inner: Arc<Inner>,
}

struct Inner {
    latency: Duration,
    pricing: Pricing,
    counts: Counts,
}

/// What [`LlmStats`] reads, and the failures still to inject.
#[derive(Default)]
struct Counts {
    calls: AtomicU64,
    failures: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    fail_next: AtomicU64,
}

impl Llm {
    /// A stand-in that takes `latency` per call and prices tokens at `pricing`.
    pub fn new(latency: Duration, pricing: Pricing) -> Llm {
        Llm { inner: Arc::new(Inner { latency, pricing, counts: Counts::default() }) }
    }

    /// Summary, key points and action items of a transcript.
    pub async fn extract(&self, transcript: &str, metadata: &Metadata) -> Result<Extraction, LlmError> {
        self.begin(Operation::Extract).await?;
        let sentences = sentences(transcript);
        let mut answer = Extraction {
            meeting_id: metadata.meeting_id.clone(),
            customer_id: metadata.customer_id.clone(),
            meet_date: metadata.meet_date.clone(),
            summary: summary(&sentences),
            key_points: key_points(&sentences),
            action_items: sentences.iter().filter(|s| is_action(s)).map(|s| s.to_string()).collect(),
            model: MODEL.to_owned(),
            usage: Usage::default(),
            processed_at: now(),
        };
        answer.usage = self.finish(Operation::Extract, transcript, &answer);
        Ok(answer)
    }

    /// Sentiment and risk signals of a transcript.
    pub async fn analyze(&self, transcript: &str, metadata: &Metadata) -> Result<Analysis, LlmError> {
        self.begin(Operation::Analyze).await?;
        let words = words(transcript);
        let (positive, negative) = (found(&words, POSITIVE), found(&words, NEGATIVE));
        let total = (positive.len() + negative.len()) as f64;
        let score = if total == 0.0 { 0.0 } else { (positive.len() as f64 - negative.len() as f64) / total };
        let sentiment = match score {
            s if s > 0.2 => Sentiment::Positive,
            s if s < -0.2 => Sentiment::Negative,
            _ => Sentiment::Neutral,
        };
        let risk_flags = RISKS
            .iter()
            .filter(|(_, cues)| !found(&words, cues).is_empty())
            .map(|(flag, _)| flag.to_string())
            .collect();
        let mut answer = Analysis {
            meeting_id: metadata.meeting_id.clone(),
            customer_id: metadata.customer_id.clone(),
            meet_date: metadata.meet_date.clone(),
            sentiment,
            sentiment_score: (score * 100.0).round() / 100.0,
            positive_signals: positive,
            negative_signals: negative,
            risk_flags,
            model: MODEL.to_owned(),
            usage: Usage::default(),
            processed_at: now(),
        };
        answer.usage = self.finish(Operation::Analyze, transcript, &answer);
        Ok(answer)
    }

    /// The counters so far.
    pub fn stats(&self) -> LlmStats {
        let (counts, load) = (&self.inner.counts, |counter: &AtomicU64| counter.load(Ordering::Relaxed));
        LlmStats {
            calls: load(&counts.calls),
            failures: load(&counts.failures),
            prompt_tokens: load(&counts.prompt_tokens),
            completion_tokens: load(&counts.completion_tokens),
        }
    }

    /// Makes the next `count` calls fail (after the usual latency), as a provider outage would.
    /// For tests and demonstrations.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use idempotency_service::llm::{Llm, Pricing};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let llm = Llm::new(Duration::ZERO, Pricing::default());
    /// llm.fail_next(1);
    /// assert!(llm.analyze("Hi.", &Default::default()).await.is_err());
    /// assert!(llm.analyze("Hi.", &Default::default()).await.is_ok());
    /// # }
    /// ```
    pub fn fail_next(&self, count: u64) {
        self.inner.counts.fail_next.store(count, Ordering::SeqCst);
    }

    async fn begin(&self, operation: Operation) -> Result<(), LlmError> {
        self.inner.counts.calls.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            operation = operation.as_str(),
            latency_ms = self.inner.latency.as_millis() as u64,
            "[LLM CALL]"
        );
        tokio::time::sleep(self.inner.latency).await;
        let fail =
            self.inner.counts.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if fail {
            self.inner.counts.failures.fetch_add(1, Ordering::Relaxed);
            m::llm_call(operation, false);
            return Err(LlmError::Unavailable);
        }
        m::llm_call(operation, true);
        Ok(())
    }

    fn finish<T: Serialize>(&self, operation: Operation, transcript: &str, answer: &T) -> Usage {
        let answer_chars = serde_json::to_string(answer).map(|json| json.chars().count()).unwrap_or(0);
        let prompt_tokens = operation.instruction_tokens() + tokens(transcript.chars().count());
        let completion_tokens = tokens(answer_chars);
        self.inner.counts.prompt_tokens.fetch_add(prompt_tokens, Ordering::Relaxed);
        self.inner.counts.completion_tokens.fetch_add(completion_tokens, Ordering::Relaxed);
        let usage = Usage {
            prompt_tokens,
            completion_tokens,
            estimated_cost_usd: self.inner.pricing.cost_usd(prompt_tokens, completion_tokens),
        };
        m::llm_usage(operation, &usage);
        usage
    }
}

/// About four characters per token, as tokenizers average on English and Portuguese.
fn tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

fn now() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default()
}

fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | '\n') {
            let end = i + c.len_utf8();
            let sentence = text[start..if c == '\n' { i } else { end }].trim();
            if !sentence.is_empty() {
                out.push(sentence);
            }
            start = end;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

fn summary(sentences: &[&str]) -> String {
    let mut summary = sentences.iter().take(2).copied().collect::<Vec<_>>().join(" ");
    if summary.chars().count() > 280 {
        summary = summary.chars().take(279).collect::<String>() + "…";
    }
    summary
}

fn key_points(sentences: &[&str]) -> Vec<String> {
    let mut ranked: Vec<(usize, &str)> =
        sentences.iter().copied().enumerate().filter(|(_, s)| s.split_whitespace().count() >= 4).collect();
    ranked.sort_by_key(|(i, s)| (std::cmp::Reverse(s.split_whitespace().count()), *i));
    ranked.truncate(5);
    ranked.sort_by_key(|(i, _)| *i);
    ranked.into_iter().map(|(_, s)| s.to_owned()).collect()
}

/// What marks a sentence as an action item, in English and Portuguese, separated by `|`.
const ACTION_CUES: &str = concat!(
    "will |i'll |we'll |need to|next step|follow up|send |schedule|",
    "vou |vamos |preciso|precisa|próximo passo|enviar|agendar"
);

fn is_action(sentence: &str) -> bool {
    let lower = sentence.to_lowercase() + " ";
    ACTION_CUES.split('|').any(|cue| lower.contains(cue))
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

const POSITIVE: &str = "good great excellent happy satisfied interested thanks perfect love \
    bom boa ótimo ótima excelente gostei obrigado obrigada interessado interessada satisfeito perfeito";
const NEGATIVE: &str = "bad problem issue cancel complaint expensive unhappy angry slow \
    ruim problema cancelar reclamação caro cara insatisfeito péssimo demora";
const RISKS: &[(&str, &str)] = &[
    ("churn_risk", "cancel cancelar leave sair"),
    ("complaint", "complaint reclamação unhappy insatisfeito"),
    ("price_objection", "expensive caro cara price preço"),
];

/// The `words` that are in `list` (words separated by spaces), in order.
fn found(words: &[String], list: &str) -> Vec<String> {
    words.iter().filter(|w| list.split_whitespace().any(|cue| cue == w.as_str())).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_on_punctuation_and_lines() {
        assert_eq!(sentences("A b. C d!\nE f? g"), ["A b.", "C d!", "E f?", "g"]);
        assert_eq!(sentences("Cliente: Olá, gostaria de investir."), ["Cliente: Olá, gostaria de investir."]);
    }

    #[tokio::test]
    async fn analysis_reads_sentiment_and_risks() {
        let llm = Llm::new(Duration::ZERO, Pricing::default());
        let unhappy =
            llm.analyze("The price is too expensive and I want to cancel.", &Metadata::default()).await.unwrap();
        assert_eq!(unhappy.sentiment, Sentiment::Negative);
        assert_eq!(unhappy.risk_flags, ["churn_risk", "price_objection"]);
        let happy = llm.analyze("Ótimo atendimento, obrigado!", &Metadata::default()).await.unwrap();
        assert_eq!(happy.sentiment, Sentiment::Positive);
        assert_eq!(happy.sentiment_score, 1.0);
    }

    #[tokio::test]
    async fn usage_is_counted_and_priced() {
        let llm = Llm::new(Duration::ZERO, Pricing { input_usd_per_mtok: 1e6, output_usd_per_mtok: 0.0 });
        let transcript = "x".repeat(400);
        let answer = llm.extract(&transcript, &Metadata::default()).await.unwrap();
        assert_eq!(answer.usage.prompt_tokens, 420 + 100);
        assert_eq!(answer.usage.estimated_cost_usd, 520.0);
        let stats = llm.stats();
        assert_eq!((stats.calls, stats.prompt_tokens), (1, 520));
        assert_eq!(stats.completion_tokens, answer.usage.completion_tokens);
    }
}
