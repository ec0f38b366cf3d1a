//! OpenCode's configuration files: where they are, how they merge, what orch reads of them.
//!
//! Files merge in this order, later wins (objects merge key by key, other values replace):
//! global `~/.config/opencode/{config.json,opencode.json,opencode.jsonc}`, the file named by
//! `OPENCODE_CONFIG`, project `opencode.jsonc`/`opencode.json` from the worktree root down to
//! the working directory, `.opencode/opencode.jsonc`/`.json` in the same directories, and last
//! the inline JSON of `OPENCODE_CONFIG_CONTENT`. Files are JSONC (comments, trailing commas);
//! `{env:VAR}` and `{file:path}` are substituted before parsing, as OpenCode does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ConfigError, Redacted, SourceError};
use crate::catalog::lenient;
use crate::fsutil::split_bom;
use crate::paths::Environment;

/// The parts of OpenCode's merged configuration that decide model selection.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpenCodeConfig {
    /// `model`: the default model, `provider/model`.
    pub model: Option<String>,
    /// `small_model`: the model for small, fast work.
    pub small_model: Option<String>,
    /// `provider`: providers declared or adjusted in config.
    pub provider: BTreeMap<String, ConfigProvider>,
    /// `disabled_providers`: ids never loaded.
    pub disabled_providers: Vec<String>,
    /// `enabled_providers`: when set, only these ids are loaded.
    pub enabled_providers: Option<Vec<String>>,
    /// `mcp`: each MCP server's `command` (empty for a remote one); nothing else is read,
    /// and a shape orch does not expect is skipped, never an error.
    #[serde(deserialize_with = "mcp_commands")]
    pub mcp: BTreeMap<String, Vec<String>>,
}

fn mcp_commands<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    let value = Value::deserialize(d)?;
    let Value::Object(entries) = value else {
        return Ok(BTreeMap::new());
    };
    Ok(entries
        .into_iter()
        .map(|(name, entry)| {
            let command = entry
                .get("command")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            (name, command)
        })
        .collect())
}

/// `provider.<id>` in OpenCode config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConfigProvider {
    /// Display name.
    pub name: Option<String>,
    /// Environment variables for the key.
    pub env: Option<Vec<String>>,
    /// AI SDK package.
    pub npm: Option<String>,
    /// Whether `options.apiKey` is set; the value is never read.
    #[serde(deserialize_with = "options_have_api_key", rename = "options")]
    pub has_api_key: bool,
    /// Models added or adjusted.
    pub models: BTreeMap<String, ConfigModel>,
    /// Only these model ids are kept.
    pub whitelist: Option<Vec<String>>,
    /// These model ids are dropped.
    pub blacklist: Option<Vec<String>>,
}

/// `provider.<id>.models.<id>` in OpenCode config: every field optional, merged over the catalog.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConfigModel {
    /// The id sent to the API, when it differs from the key.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Family.
    pub family: Option<String>,
    /// Accepts attachments.
    pub attachment: Option<bool>,
    /// Reasoning.
    pub reasoning: Option<bool>,
    /// Tool calls.
    pub tool_call: Option<bool>,
    /// Temperature.
    pub temperature: Option<bool>,
    /// Modalities by name.
    pub modalities: Option<ConfigModalities>,
    /// Prices.
    pub cost: Option<ConfigCost>,
    /// Limits.
    pub limit: Option<ConfigLimit>,
    /// Status.
    pub status: Option<String>,
    /// Release date.
    pub release_date: Option<String>,
}

/// Modalities in config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConfigModalities {
    /// Input modality names.
    pub input: Option<Vec<String>>,
    /// Output modality names.
    pub output: Option<Vec<String>>,
}

/// Prices in config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConfigCost {
    /// Input.
    #[serde(deserialize_with = "opt_number")]
    pub input: Option<f64>,
    /// Output.
    #[serde(deserialize_with = "opt_number")]
    pub output: Option<f64>,
    /// Cache read.
    #[serde(deserialize_with = "opt_number")]
    pub cache_read: Option<f64>,
    /// Cache write.
    #[serde(deserialize_with = "opt_number")]
    pub cache_write: Option<f64>,
}

/// Limits in config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConfigLimit {
    /// Context tokens.
    #[serde(deserialize_with = "opt_count")]
    pub context: Option<u64>,
    /// Output tokens.
    #[serde(deserialize_with = "opt_count")]
    pub output: Option<u64>,
}

fn opt_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    lenient::number(d).map(Some)
}

fn opt_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    lenient::count(d).map(Some)
}

fn options_have_api_key<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    struct Options {
        #[serde(default, rename = "apiKey", deserialize_with = "lenient::present")]
        api_key: bool,
    }
    Ok(Option::<Options>::deserialize(d)?.is_some_and(|o| o.api_key))
}

/// The merged configuration and the files it came from, in merge order.
#[derive(Debug, Clone, Default)]
pub struct LoadedConfig {
    /// The typed view of the merged value.
    pub config: OpenCodeConfig,
    /// Files that were read, in merge order.
    pub files: Vec<PathBuf>,
    /// What each `{file:}` substitution put in, so no reason or error shows it.
    pub substituted: Vec<SubstitutedFile>,
}

/// Where OpenCode's configuration lives for one working directory.
#[derive(Debug, Clone)]
pub struct ConfigLocations {
    /// OpenCode's global config directory (`~/.config/opencode`).
    pub global_dir: PathBuf,
    /// The working directory OpenCode would run in.
    pub project_dir: PathBuf,
}

impl ConfigLocations {
    /// Candidate files, in merge order (they may not exist).
    pub fn candidates(&self, env: &Environment) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = ["config.json", "opencode.json", "opencode.jsonc"]
            .iter()
            .map(|f| self.global_dir.join(f))
            .collect();
        if let Some(path) = env.get("OPENCODE_CONFIG").filter(|p| !p.is_empty()) {
            files.push(PathBuf::from(path));
        }
        let dirs = project_dirs(&self.project_dir);
        for dir in &dirs {
            files.push(dir.join("opencode.jsonc"));
            files.push(dir.join("opencode.json"));
        }
        for dir in &dirs {
            files.push(dir.join(".opencode").join("opencode.jsonc"));
            files.push(dir.join(".opencode").join("opencode.json"));
        }
        files
    }

    /// Reads, substitutes, parses and merges every config file, then
    /// `OPENCODE_CONFIG_CONTENT`. A file that exists but cannot be read or parsed is an
    /// error naming it: OpenCode itself refuses to start on a broken config.
    pub fn load(&self, env: &Environment) -> Result<LoadedConfig, SourceError> {
        let MergedConfig {
            value,
            files,
            substituted,
        } = self.load_merged(env)?;
        let config = OpenCodeConfig::deserialize(&value).map_err(|e| SourceError::Config {
            path: files.last().cloned().unwrap_or_default(),
            source: ConfigError::Shape(Redacted(e)),
        })?;
        Ok(LoadedConfig {
            config,
            files,
            substituted,
        })
    }

    /// The merged value after substitution, with the files read and what `{file:}`
    /// substituted (for the redactor, which must know every secret the config holds).
    pub fn load_merged(&self, env: &Environment) -> Result<MergedConfig, SourceError> {
        let mut merged = Value::Object(Map::new());
        let mut files = Vec::new();
        let mut substituted = Vec::new();
        for path in self.candidates(env) {
            let text = match std::fs::read(&path) {
                Ok(bytes) => String::from_utf8(bytes).map_err(ConfigError::NotUtf8),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => continue,
                Err(e) => {
                    return Err(SourceError::Read {
                        path: path.clone(),
                        source: e,
                    });
                }
            };
            let value = text
                .and_then(|text| parse_checked(&text, path.parent(), env, &mut substituted))
                .map_err(|source| SourceError::Config {
                    path: path.clone(),
                    source,
                })?;
            merge(&mut merged, value);
            files.push(path);
        }
        if let Some(inline) = env
            .get("OPENCODE_CONFIG_CONTENT")
            .filter(|s| !s.trim().is_empty())
        {
            let label = PathBuf::from("$OPENCODE_CONFIG_CONTENT");
            let value = parse_checked(inline, Some(&self.project_dir), env, &mut substituted)
                .map_err(|source| SourceError::Config {
                    path: label.clone(),
                    source,
                })?;
            merge(&mut merged, value);
            files.push(label);
        }
        Ok(MergedConfig {
            value: merged,
            files,
            substituted,
        })
    }
}

/// The merged config value, before its typed view.
#[derive(Debug, Clone, Default)]
pub struct MergedConfig {
    /// The merged value, substitutions done.
    pub value: Value,
    /// Files that were read, in merge order.
    pub files: Vec<PathBuf>,
    /// What each `{file:}` substitution put in.
    pub substituted: Vec<SubstitutedFile>,
}

/// One `{file:NAME}` substitution. `Debug` hides the content.
#[derive(Clone, PartialEq, Eq)]
pub struct SubstitutedFile {
    /// The name as written in the config (`{file:NAME}`).
    pub name: String,
    /// The content put in (trimmed at the end, before JSON escaping).
    pub content: String,
}

impl std::fmt::Debug for SubstitutedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubstitutedFile")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Directories from the worktree root (the nearest ancestor holding `.git`, else the
/// filesystem root) down to `start`, root-most first.
pub fn project_dirs(start: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for dir in start.ancestors() {
        dirs.push(dir.to_path_buf());
        if dir.join(".git").exists() {
            break;
        }
    }
    dirs.reverse();
    dirs
}

/// Parses one file's text and checks its value against the typed view, so a wrong type
/// is reported against the file that has it, not against the merge.
fn parse_checked(
    text: &str,
    dir: Option<&Path>,
    env: &Environment,
    substituted: &mut Vec<SubstitutedFile>,
) -> Result<Value, ConfigError> {
    let value = parse_substituted(text, dir, env, substituted)?;
    if !value.is_object() {
        return Err(ConfigError::NotObject);
    }
    OpenCodeConfig::deserialize(&value).map_err(|e| ConfigError::Shape(Redacted(e)))?;
    Ok(value)
}

/// The JSONC that OpenCode's config files may use: comments and trailing commas, nothing
/// looser. Every reader and editor of those files parses with these options.
pub fn jsonc_options() -> jsonc_parser::ParseOptions {
    jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// Skips a leading byte order mark (as OpenCode does), substitutes `{env:VAR}` and
/// `{file:path}`, then parses JSONC.
pub fn parse_config_text(
    text: &str,
    dir: Option<&Path>,
    env: &Environment,
) -> Result<Value, ConfigError> {
    parse_substituted(text, dir, env, &mut Vec::new())
}

fn parse_substituted(
    text: &str,
    dir: Option<&Path>,
    env: &Environment,
    substituted: &mut Vec<SubstitutedFile>,
) -> Result<Value, ConfigError> {
    let (text, _) = split_bom(text);
    let text = substitute(text, dir, env, substituted)?;
    let value: Option<Value> = jsonc_parser::parse_to_serde_value(&text, &jsonc_options())
        .map_err(|e| ConfigError::Syntax(Redacted(e)))?;
    Ok(value.unwrap_or(Value::Object(Map::new())))
}

/// OpenCode's text substitutions. `{env:VAR}` becomes the variable's value (empty when
/// unset); `{file:path}` becomes the file's contents, JSON-escaped, with `~/` meaning home
/// and relative paths relative to the config file. Lines that are `//` comments are left alone.
fn substitute(
    text: &str,
    dir: Option<&Path>,
    env: &Environment,
    substituted: &mut Vec<SubstitutedFile>,
) -> Result<String, ConfigError> {
    if !text.contains("{env:") && !text.contains("{file:") {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("//") {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(start) = next_token(rest) {
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            let Some(end) = tail.find('}') else {
                break;
            };
            let token = &tail[1..end];
            if let Some(var) = token.strip_prefix("env:") {
                out.push_str(&json_escape(env.get(var.trim()).unwrap_or("")));
            } else if let Some(file) = token.strip_prefix("file:") {
                let path = resolve_file(file.trim(), dir, env);
                let content = std::fs::read_to_string(&path).map_err(|source| {
                    ConfigError::SubstitutedFile {
                        path: path.clone(),
                        name: file.trim().to_owned(),
                        source,
                    }
                })?;
                // OpenCode skips a byte order mark here too (checked on 1.18.34).
                let content = split_bom(&content).0.trim_end();
                out.push_str(&json_escape(content));
                substituted.push(SubstitutedFile {
                    name: file.trim().to_owned(),
                    content: content.to_owned(),
                });
            }
            rest = &tail[end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

/// Byte offset of the next `{env:` or `{file:` in `s`.
fn next_token(s: &str) -> Option<usize> {
    let env = s.find("{env:");
    let file = s.find("{file:");
    match (env, file) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn resolve_file(file: &str, dir: Option<&Path>, env: &Environment) -> PathBuf {
    if let Some(rest) = file.strip_prefix("~/") {
        return env.home().join(rest);
    }
    let path = PathBuf::from(file);
    match dir {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path,
    }
}

/// The text of a JSON string literal without its quotes.
fn json_escape(s: &str) -> String {
    let quoted = Value::String(s.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Deep merge: objects merge key by key, anything else replaces.
pub fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (k, v) in overlay {
                match base.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonc_comments_trailing_commas_and_substitutions() {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        std::fs::write(dir.path().join("name.txt"), "Line \"one\"\n").expect("the file is written");
        let text = r#"{
            // a comment with {file:missing.txt} that is not substituted
            "model": "{env:MODEL}", /* block */
            "provider": {"x": {"name": "{file:name.txt}", "options": {"apiKey": "{env:NOPE}"},},},
        }"#;
        let v = parse_config_text(
            text,
            Some(dir.path()),
            &Environment::from_pairs([("MODEL", "a/b")]),
        )
        .expect("the config loads");
        assert_eq!(v["model"], "a/b");
        assert_eq!(v["provider"]["x"]["name"], "Line \"one\"");
        let c = OpenCodeConfig::deserialize(&v).expect("the config deserializes");
        assert!(c.provider["x"].has_api_key);
    }

    #[test]
    fn a_byte_order_mark_is_skipped_in_the_file_and_in_substituted_files() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("model.txt"), "\u{feff}openai/gpt-5\n").expect("model.txt");
        let v = parse_config_text(
            "\u{feff}{\"model\": \"{file:model.txt}\"}",
            Some(dir.path()),
            &Environment::default(),
        )
        .expect("a marked config parses");
        assert_eq!(v["model"], "openai/gpt-5");
    }

    #[test]
    fn a_missing_file_substitution_names_the_file() {
        let err = parse_config_text(
            r#"{"model": "{file:./nope.txt}"}"#,
            Some(Path::new("/nonexistent")),
            &Environment::default(),
        );
        let err = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("/nonexistent/./nope.txt"), "{err}");
    }

    #[test]
    fn malformed_config_is_an_error_naming_the_file_and_position() {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let global = dir.path().join("global");
        std::fs::create_dir_all(&global).expect("the directory is created");
        std::fs::write(global.join("opencode.json"), "{\"model\": ").expect("the file is written");
        let loc = ConfigLocations {
            global_dir: global.clone(),
            project_dir: dir.path().to_path_buf(),
        };
        let load_error = || {
            loc.load(&Environment::default())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let err = load_error();
        assert!(
            err.contains("opencode.json") && err.contains("line 1"),
            "{err}"
        );

        std::fs::write(
            global.join("opencode.json"),
            r#"{"disabled_providers": "sk-secret-value"}"#,
        )
        .expect("the file is written");
        let err = load_error();
        assert!(
            err.contains("opencode.json") && !err.contains("sk-secret-value"),
            "{err}"
        );
    }

    #[test]
    fn merge_order_later_wins_and_objects_merge() {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let root = dir.path();
        let global = root.join("g");
        let project = root.join("repo");
        let sub = project.join("sub");
        std::fs::create_dir_all(&global).expect("the directory is created");
        std::fs::create_dir_all(sub.join(".opencode")).expect("the directory is created");
        std::fs::create_dir_all(project.join(".git")).expect("the directory is created");
        let w = |p: PathBuf, s: &str| std::fs::write(p, s).expect("the file is written");
        w(
            global.join("opencode.json"),
            r#"{"model":"g/m","small_model":"g/s","provider":{"a":{"name":"A"}}}"#,
        );
        w(
            project.join("opencode.jsonc"),
            r#"{"model":"p/m", // c
           "provider":{"b":{"name":"B"}}}"#,
        );
        w(
            sub.join(".opencode/opencode.json"),
            r#"{"small_model":"o/s"}"#,
        );
        // Above the worktree root: ignored.
        w(root.join("opencode.json"), r#"{"model":"outside/m"}"#);
        let loc = ConfigLocations {
            global_dir: global,
            project_dir: sub,
        };
        let loaded = loc
            .load(&Environment::from_pairs([(
                "OPENCODE_CONFIG_CONTENT",
                r#"{"disabled_providers":["z"]}"#,
            )]))
            .expect("the config loads");
        let c = loaded.config;
        assert_eq!(c.model.as_deref(), Some("p/m"));
        assert_eq!(c.small_model.as_deref(), Some("o/s"));
        assert_eq!(c.provider.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(c.disabled_providers, ["z"]);
        assert_eq!(loaded.files.len(), 4);
    }
}
