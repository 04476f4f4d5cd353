//! JSON for wire maps (`SnakeBridge.Wire`): terms to serde_json values and back.

use rustler::types::map::MapIterator;
use rustler::{Binary, Encoder, Env, NewBinary, Term, TermType};
use serde_json::{Map, Number, Value};

use crate::call::reply;
use crate::error::Error;

fn to_value(term: Term<'_>) -> Result<Value, Error> {
    to_value_at(term, 0)
}

fn to_value_at(term: Term<'_>, depth: u32) -> Result<Value, Error> {
    // Wire maps are shallow; serde_json's own parser stops at 128 levels, so what is
    // encoded here must stay below that to decode again.
    if depth >= 128 {
        return Err(Error::BadArg("nested too deep".into()));
    }
    let to_value = |t| to_value_at(t, depth + 1);
    let bad = || Error::BadArg("not JSON-encodable".into());
    Ok(match term.get_type() {
        TermType::Atom => match term.atom_to_string().map_err(|_| bad())?.as_str() {
            "nil" => Value::Null,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::String(other.to_string()),
        },
        TermType::Integer => match term.decode::<i64>() {
            Ok(i) => Value::from(i),
            Err(_) => Value::from(term.decode::<u64>().map_err(|_| bad())?),
        },
        TermType::Float => {
            Number::from_f64(term.decode().map_err(|_| bad())?).map_or(Value::Null, Value::Number)
        }
        TermType::Binary => Value::String(term.decode::<String>().map_err(|_| bad())?),
        TermType::List => {
            // Cell by cell: an improper list is an error, not a panic.
            let mut items = Vec::new();
            let mut rest = term;
            while let Ok((head, tail)) = rest.list_get_cell() {
                items.push(to_value(head)?);
                rest = tail;
            }
            // The tail of a proper list is [] (a list with no cell).
            if rest.get_type() != TermType::List {
                return Err(Error::BadArg(
                    "an improper list is not JSON-encodable".into(),
                ));
            }
            Value::Array(items)
        }
        TermType::Map => {
            let mut map = Map::new();
            for (k, v) in MapIterator::new(term).ok_or_else(bad)? {
                let key = match k.get_type() {
                    TermType::Atom => k.atom_to_string().map_err(|_| bad())?,
                    _ => k.decode::<String>().map_err(|_| bad())?,
                };
                // `:a` and `"a"` are one JSON key: an error, not a silent loss.
                if map.insert(key.clone(), to_value(v)?).is_some() {
                    return Err(Error::BadArg(format!(
                        "duplicate key {key:?} (an atom and a string?)"
                    )));
                }
            }
            Value::Object(map)
        }
        _ => return Err(bad()),
    })
}

fn from_value<'a>(env: Env<'a>, value: &Value) -> Term<'a> {
    match value {
        Value::Null => rustler::types::atom::nil().encode(env),
        Value::Bool(b) => b.encode(env),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.encode(env),
            (None, Some(u)) => u.encode(env),
            _ => n.as_f64().unwrap_or(0.0).encode(env),
        },
        Value::String(s) => s.encode(env),
        Value::Array(items) => items
            .iter()
            .map(|v| from_value(env, v))
            .collect::<Vec<_>>()
            .encode(env),
        Value::Object(map) => {
            let keys: Vec<Term> = map.keys().map(|k| k.encode(env)).collect();
            let values: Vec<Term> = map.values().map(|v| from_value(env, v)).collect();
            Term::map_from_term_arrays(env, &keys, &values).expect("JSON keys are unique")
        }
    }
}

pub fn encode<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    let result = to_value(term).map(|v| {
        let text = serde_json::to_vec(&v).expect("a Value always serializes");
        let mut bin = NewBinary::new(env, text.len());
        bin.as_mut_slice().copy_from_slice(&text);
        Binary::from(bin).encode(env)
    });
    reply(env, result)
}

pub fn decode<'a>(env: Env<'a>, json: Binary<'a>) -> Term<'a> {
    let result = serde_json::from_slice::<Value>(json.as_slice())
        .map(|v| from_value(env, &v))
        .map_err(|e| Error::BadArg(format!("invalid JSON: {e}")));
    reply(env, result)
}
