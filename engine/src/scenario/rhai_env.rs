//! The Rhai sandbox conditions run in, and the read-only context they see.
//!
//! The engine has no modules (`no_module`), no `eval`, no floats (`no_float`: numbers with a
//! decimal point are `Decimal`), no I/O: `print` and `debug` go to `tracing`. Operations,
//! call depth, expression depth, string, array and map sizes are limited, so a scenario
//! cannot hang or exhaust a worker. Variables are strict: an expression that names anything
//! but the documented context does not compile. ASTs are compiled once per scenario version
//! (`Expr`) and evaluated many times.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use rhai::{AST, Dynamic, Engine, Map, Scope};
use rust_decimal::Decimal;
use serde::Serialize;

/// The names an expression may read; documented in scenarios/README.md.
pub const CONTEXT_NAMES: [&str; 10] = [
    "customer",
    "case",
    "invoices",
    "balance",
    "days_overdue",
    "days_to_due",
    "now",
    "promise",
    "outcome",
    "vars",
];

/// A compiled expression: its source (for history and diagnostics) and its AST.
#[derive(Clone)]
pub struct Expr {
    pub source: String,
    pub ast: Arc<AST>,
    /// The context paths the expression reads (`balance.overdue`), compiled, so a decision
    /// can be explained with the values that made it.
    pub reads: Vec<(String, Arc<AST>)>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// Where a compile error sits inside the expression (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

pub struct Sandbox {
    engine: Engine,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let mut engine = Engine::new();
        engine
            .set_max_operations(50_000)
            .set_max_call_levels(16)
            .set_max_expr_depths(64, 32)
            .set_max_string_size(10_000)
            .set_max_array_size(10_000)
            .set_max_map_size(1_000)
            .set_strict_variables(true)
            // No closures: a condition is an expression whose work is bounded by its size
            // (closures called from native functions escape the operations count).
            .set_allow_anonymous_fn(false)
            .disable_symbol("eval");
        engine.on_print(|text| tracing::info!(target: "arrears::scenario", "{text}"));
        engine.on_debug(
            |text, _source, pos| tracing::debug!(target: "arrears::scenario", "{text} (at {pos})"),
        );
        engine.register_fn("days_between", days_between);
        Sandbox { engine }
    }

    /// The names known at compile time. Not constants: the optimizer would fold their
    /// placeholder values into the AST.
    fn template_scope() -> Scope<'static> {
        let mut scope = Scope::new();
        for name in CONTEXT_NAMES {
            scope.push_dynamic(name, Dynamic::UNIT);
        }
        scope
    }

    /// Compiles one expression. Statements, assignments and unknown names are refused.
    pub fn compile(&self, source: &str) -> Result<Expr, CompileError> {
        let scope = Sandbox::template_scope();
        let ast = self
            .engine
            .compile_expression_with_scope(&scope, source)
            .map_err(|e| {
                let pos = e.position();
                CompileError {
                    line: pos.line().unwrap_or(1) as u32,
                    column: pos.position().unwrap_or(1) as u32,
                    message: e.err_type().to_string(),
                }
            })?;
        let reads = read_paths(source)
            .into_iter()
            .filter_map(|path| {
                let ast = self
                    .engine
                    .compile_expression_with_scope(&scope, &path)
                    .ok()?;
                Some((path, Arc::new(ast)))
            })
            .collect();
        Ok(Expr {
            source: source.to_string(),
            ast: Arc::new(ast),
            reads,
        })
    }

    pub fn eval(&self, expr: &Expr, scope: &mut Scope) -> Result<Dynamic, String> {
        self.engine
            .eval_ast_with_scope::<Dynamic>(scope, &expr.ast)
            .map_err(|e| format!("`{}`: {e}", expr.source))
    }

    pub fn eval_bool(&self, expr: &Expr, scope: &mut Scope) -> Result<bool, String> {
        let value = self.eval(expr, scope)?;
        value.as_bool().map_err(|ty| {
            format!(
                "`{}` must be true or false, it gave a {ty} ({value})",
                expr.source
            )
        })
    }

    /// `path = value` for every context path the expression reads, for the history.
    pub fn explain(&self, expr: &Expr, scope: &mut Scope) -> String {
        expr.reads
            .iter()
            .map(|(path, ast)| {
                let value = self
                    .engine
                    .eval_ast_with_scope::<Dynamic>(scope, ast)
                    .map(|v| show(&v))
                    .unwrap_or_else(|_| "?".into());
                format!("{path} = {value}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn show(v: &Dynamic) -> String {
    if v.is_unit() {
        "()".into()
    } else if v.is_string() {
        format!("{v:?}")
    } else {
        v.to_string()
    }
}

fn days_between(from: &str, to: &str) -> Result<i64, Box<rhai::EvalAltResult>> {
    let parse = |s: &str| -> Result<NaiveDate, Box<rhai::EvalAltResult>> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
            Box::new(rhai::EvalAltResult::ErrorRuntime(
                format!("`{s}` is not a date like 2026-12-31").into(),
                rhai::Position::NONE,
            ))
        })
    };
    Ok((parse(to)? - parse(from)?).num_days())
}

/// The dotted context paths an expression reads, in order of first appearance:
/// `balance.overdue > 100 && customer.category == "x"` reads `balance.overdue` and
/// `customer.category`. Text inside string literals is skipped.
pub fn read_paths(source: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let chars: Vec<char> = source.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        let starts_ident = (c.is_ascii_alphabetic() || c == '_')
            && (i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '.'));
        if !starts_ident {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric()
                || chars[i] == '_'
                || (chars[i] == '.'
                    && chars
                        .get(i + 1)
                        .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')))
        {
            i += 1;
        }
        let path: String = chars[start..i].iter().collect();
        let root = path.split('.').next().unwrap_or("").to_string();
        // A method call (`invoices.len()`) reads its receiver.
        let path = if chars.get(i) == Some(&'(') {
            match path.rsplit_once('.') {
                Some((receiver, _)) => receiver.to_string(),
                None => continue,
            }
        } else {
            path
        };
        if CONTEXT_NAMES.contains(&root.as_str()) && !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

/// The `vars.NAME` an expression reads.
pub fn vars_read(source: &str) -> Vec<String> {
    read_paths(source)
        .into_iter()
        .filter_map(|p| {
            p.strip_prefix("vars.")
                .map(|rest| rest.split('.').next().unwrap_or(rest).to_string())
        })
        .collect()
}

/// What a condition sees. Dates are `YYYY-MM-DD` strings (they compare correctly as
/// strings), money is `Decimal`, counts are integers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConditionContext {
    pub customer: CustomerFacts,
    pub case: Option<CaseFacts>,
    pub invoices: Vec<InvoiceFacts>,
    pub balance: BalanceFacts,
    pub days_overdue: i64,
    /// Days until the next open invoice that is not yet due falls due.
    pub days_to_due: Option<i64>,
    pub now: Option<NaiveDate>,
    pub promise: Option<PromiseFacts>,
    pub outcome: Option<String>,
    pub vars: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CustomerFacts {
    pub id: String,
    pub external_id: String,
    pub name: String,
    pub category: String,
    pub language: String,
    pub country: String,
    pub collector: Option<String>,
    pub fields: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseFacts {
    pub id: String,
    pub scenario: String,
    pub version: i64,
    pub step: String,
    pub started: Option<NaiveDate>,
    pub days_open: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct InvoiceFacts {
    pub number: String,
    pub currency: String,
    pub gross: Decimal,
    pub open: Decimal,
    pub due: Option<NaiveDate>,
    pub days_overdue: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BalanceFacts {
    pub total: Decimal,
    pub overdue: Decimal,
    pub currency: String,
    pub by_currency: BTreeMap<String, CurrencyBalance>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CurrencyBalance {
    pub total: Decimal,
    pub overdue: Decimal,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PromiseFacts {
    pub date: Option<NaiveDate>,
    pub amount: Decimal,
}

/// A scenario variable or custom-field value, as conditions see it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Decimal(DecimalValue),
    Text(String),
    Unit(()),
}

/// Decimals keep their exact digits in JSON as `{"decimal": "12.50"}`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DecimalValue {
    pub decimal: Decimal,
}

impl Value {
    pub fn to_dynamic(&self) -> Dynamic {
        match self {
            Value::Bool(b) => Dynamic::from_bool(*b),
            Value::Int(i) => Dynamic::from_int(*i),
            Value::Decimal(d) => Dynamic::from_decimal(d.decimal),
            Value::Text(s) => Dynamic::from(s.clone()),
            Value::Unit(()) => Dynamic::UNIT,
        }
    }

    /// The value of a Rhai result, or why it cannot be kept in a variable.
    pub fn from_dynamic(v: &Dynamic) -> Result<Value, String> {
        if v.is_unit() {
            Ok(Value::Unit(()))
        } else if let Ok(b) = v.as_bool() {
            Ok(Value::Bool(b))
        } else if let Ok(i) = v.as_int() {
            Ok(Value::Int(i))
        } else if let Ok(d) = v.as_decimal() {
            Ok(Value::Decimal(DecimalValue { decimal: d }))
        } else if v.is_string() {
            Ok(Value::Text(v.to_string()))
        } else {
            Err(format!(
                "a variable holds true/false, a whole number, a decimal or text, not a {}",
                v.type_name()
            ))
        }
    }

    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => n
                    .to_string()
                    .parse::<Decimal>()
                    .map(|decimal| Value::Decimal(DecimalValue { decimal }))
                    .unwrap_or_else(|_| Value::Text(n.to_string())),
            },
            serde_json::Value::String(s) => Value::Text(s.clone()),
            serde_json::Value::Null => Value::Unit(()),
            other => Value::Text(other.to_string()),
        }
    }
}

fn date_dyn(d: Option<NaiveDate>) -> Dynamic {
    d.map(|d| Dynamic::from(d.format("%Y-%m-%d").to_string()))
        .unwrap_or(Dynamic::UNIT)
}

fn map_of(entries: impl IntoIterator<Item = (&'static str, Dynamic)>) -> Dynamic {
    let mut m = Map::new();
    for (k, v) in entries {
        m.insert(k.into(), v);
    }
    Dynamic::from_map(m)
}

fn values_map(values: &BTreeMap<String, Value>) -> Dynamic {
    let mut m = Map::new();
    for (k, v) in values {
        m.insert(k.as_str().into(), v.to_dynamic());
    }
    Dynamic::from_map(m)
}

impl ConditionContext {
    /// The Rhai scope for this context: every name constant, so expressions cannot change it.
    pub fn scope(&self) -> Scope<'static> {
        let c = &self.customer;
        let customer = map_of([
            ("id", Dynamic::from(c.id.clone())),
            ("external_id", Dynamic::from(c.external_id.clone())),
            ("name", Dynamic::from(c.name.clone())),
            ("category", Dynamic::from(c.category.clone())),
            ("language", Dynamic::from(c.language.clone())),
            ("country", Dynamic::from(c.country.clone())),
            (
                "collector",
                c.collector
                    .clone()
                    .map(Dynamic::from)
                    .unwrap_or(Dynamic::UNIT),
            ),
            ("fields", values_map(&c.fields)),
        ]);
        let case = match &self.case {
            Some(k) => map_of([
                ("id", Dynamic::from(k.id.clone())),
                ("scenario", Dynamic::from(k.scenario.clone())),
                ("version", Dynamic::from_int(k.version)),
                ("step", Dynamic::from(k.step.clone())),
                ("started", date_dyn(k.started)),
                ("days_open", Dynamic::from_int(k.days_open)),
            ]),
            None => Dynamic::UNIT,
        };
        let invoices: rhai::Array = self
            .invoices
            .iter()
            .map(|i| {
                map_of([
                    ("number", Dynamic::from(i.number.clone())),
                    ("currency", Dynamic::from(i.currency.clone())),
                    ("gross", Dynamic::from_decimal(i.gross)),
                    ("open", Dynamic::from_decimal(i.open)),
                    ("due", date_dyn(i.due)),
                    ("days_overdue", Dynamic::from_int(i.days_overdue)),
                ])
            })
            .collect();
        let mut by_currency = Map::new();
        for (cur, b) in &self.balance.by_currency {
            by_currency.insert(
                cur.as_str().into(),
                map_of([
                    ("total", Dynamic::from_decimal(b.total)),
                    ("overdue", Dynamic::from_decimal(b.overdue)),
                ]),
            );
        }
        let balance = map_of([
            ("total", Dynamic::from_decimal(self.balance.total)),
            ("overdue", Dynamic::from_decimal(self.balance.overdue)),
            ("currency", Dynamic::from(self.balance.currency.clone())),
            ("by_currency", Dynamic::from_map(by_currency)),
        ]);
        let promise = match &self.promise {
            Some(p) => map_of([
                ("date", date_dyn(p.date)),
                ("amount", Dynamic::from_decimal(p.amount)),
            ]),
            None => Dynamic::UNIT,
        };
        let mut scope = Scope::new();
        scope.push_constant("customer", customer);
        scope.push_constant("case", case);
        scope.push_constant("invoices", Dynamic::from_array(invoices));
        scope.push_constant("balance", balance);
        scope.push_constant("days_overdue", Dynamic::from_int(self.days_overdue));
        scope.push_constant(
            "days_to_due",
            self.days_to_due
                .map(Dynamic::from_int)
                .unwrap_or(Dynamic::UNIT),
        );
        scope.push_constant("now", date_dyn(self.now));
        scope.push_constant("promise", promise);
        scope.push_constant(
            "outcome",
            self.outcome
                .clone()
                .map(Dynamic::from)
                .unwrap_or(Dynamic::UNIT),
        );
        scope.push_constant("vars", values_map(&self.vars));
        scope
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    fn context() -> ConditionContext {
        ConditionContext {
            customer: CustomerFacts {
                name: "Acme".into(),
                category: "business".into(),
                ..Default::default()
            },
            balance: BalanceFacts {
                total: dec("25000.00"),
                overdue: dec("25000.00"),
                currency: "PLN".into(),
                ..Default::default()
            },
            days_overdue: 12,
            now: NaiveDate::from_ymd_opt(2026, 11, 23),
            ..Default::default()
        }
    }

    #[test]
    fn conditions_see_money_as_decimal_and_compare_with_integers() {
        let sb = Sandbox::new();
        let mut scope = context().scope();
        for (src, want) in [
            ("balance.overdue > 20000", true),
            ("balance.overdue >= 25000.01", false),
            ("balance.overdue == 25000.00", true),
            ("customer.category == \"business\"", true),
            ("days_overdue >= 3", true),
            (
                "customer.category == \"business\" && days_overdue >= 3",
                true,
            ),
            ("promise == ()", true),
            ("days_between(\"2026-11-01\", now) == 22", true),
        ] {
            let e = sb.compile(src).expect(src);
            assert_eq!(sb.eval_bool(&e, &mut scope), Ok(want), "{src}");
        }
    }

    #[test]
    fn the_sandbox_refuses_unknown_names_statements_and_eval() {
        let sb = Sandbox::new();
        let err = sb.compile("balanse.overdue > 1").expect_err("must fail");
        assert_eq!((err.line, err.column), (1, 1));
        assert!(err.message.contains("balanse"), "{}", err.message);
        assert!(sb.compile("eval(\"1\")").is_err());
        assert!(sb.compile("let x = 1; x").is_err());
        assert!(sb.compile("1.5 + 2").is_ok(), "decimal literals");
        assert!(
            sb.compile("invoices.filter(|i| i.open > 0).len() > 0")
                .is_err()
        );
    }

    #[test]
    fn runaway_expressions_stop_at_the_operations_limit() {
        let sb = Sandbox::new();
        // Seven literal arrays of 9,000 items: each within the size limit, together past
        // the operations limit.
        let items = vec!["days_overdue"; 9_000].join(", ");
        let src = vec![format!("[{items}].len()"); 7].join(" + ");
        let e = sb.compile(&format!("{src} > 0")).expect("compiles");
        let err = sb
            .eval_bool(&e, &mut context().scope())
            .expect_err("must fail");
        assert!(err.to_lowercase().contains("too many operations"), "{err}");
    }

    #[test]
    fn decisions_are_explained_with_the_values_read() {
        let sb = Sandbox::new();
        let e = sb
            .compile("balance.overdue > 20000 && customer.category != \"consumer\"")
            .expect("compiles");
        assert_eq!(
            sb.explain(&e, &mut context().scope()),
            "balance.overdue = 25000.00, customer.category = \"business\""
        );
        assert_eq!(vars_read("vars.tries < 3 && vars.x.y"), ["tries", "x"]);
        assert_eq!(read_paths("invoices.len() > 2"), ["invoices"]);
    }
}
