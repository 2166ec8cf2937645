// Package expr evaluates typed scalar SQL expressions over Arrow record batches,
// vectorised, with PostgreSQL's typing and NULL semantics.
//
// An expression is a tree of nodes: [Column], [Literal], [Call], [Case] and [Cast].
// The planner builds it with the type-checked constructors ([NewCall], [NewCase],
// [NewCast]), which resolve a function or operator by name and argument types the way
// PostgreSQL does (implicit numeric promotion smallint < integer < bigint < numeric <
// real < double precision, unknown-typed string literals coerced to the other
// operand's type, typed NULLs) and insert the implicit casts as [Cast] nodes. The
// package knows nothing of pg_query: the planner converts its AST into these nodes.
//
// Evaluation works column-at-a-time on typed Arrow buffers: constants stay scalars
// (column-vs-literal kernels), validity bitmaps are combined word-wise, and errors
// (division by zero, integer overflow, invalid casts) are reported only for rows that
// are not NULL, like PostgreSQL. AND, OR, CASE and COALESCE evaluate their later
// operands only on the rows that need them when evaluating them on every row fails,
// so `CASE WHEN b = 0 THEN 0 ELSE a / b END` and `b <> 0 AND a / b > 1` never fail
// on the rows the condition excludes.
//
// Names NewCall resolves (arguments in SQL order):
//
//	operators   + - * / %  neg  = <> != < <= > >=  and or not  || (text; bytea)
//	predicates  is_null is_not_null is_distinct_from is_not_distinct_from
//	            like ilike not_like not_ilike (x, pattern[, escape]; escape '\' by default, '' for none)
//	            in not_in (x, e1, e2, ...)  between not_between (x, lo, hi)
//	conditional coalesce nullif greatest least; CASE is NewCase
//	text        lower upper length char_length octet_length substr substring
//	            concat trim btrim ltrim rtrim (text[, characters]) replace strpos
//	            position (string, substring) left right reverse starts_with
//	math        abs round (x[, digits]) trunc floor ceil ceiling sign sqrt mod
//	date/time   date_trunc (field, x) extract date_part (field, x) current_date
//	            now current_timestamp localtimestamp
//
// Date and time arithmetic: date ± integer → date, date - date → integer, date or
// timestamp ± interval → timestamp, timestamp - timestamp → interval, interval ±
// interval, interval * / number. Integer literals should be integer (int32) when
// they fit, as in PostgreSQL, or an integer column plus 1 becomes bigint.
//
// Semantics chosen where PostgreSQL depends on settings:
//   - strings compare bytewise (PostgreSQL's C collation); lower/upper/ILIKE use
//     Unicode simple case mapping;
//   - numeric (decimal128) results of arithmetic have precision 38 (PostgreSQL's
//     numeric is unconstrained); + and - use the larger scale, * the sum of the
//     scales (capped at 38), / uses scale max(16, s1, s2) rounded half away from
//     zero, like PostgreSQL's at least 16 significant digits for typical values;
//     a result beyond 38 digits is the error "numeric field overflow";
//   - timestamps are microseconds; timestamp with time zone is stored as UTC and
//     interval arithmetic on it uses UTC as the session time zone.
//
// Memory: every array returned is owned by the caller, who releases it; all
// buffers come from [Context.Alloc].
package expr
