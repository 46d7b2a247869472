-- +goose Up
-- Name ranks that the rules of graph.nodeRecordRanks give now, for the
-- records stored before those rules. A record's name rank is computed when
-- it is written (graph.Node.Ranks) and stored (nodes.name_rank, and
-- node_records.name_rank since 00042); a merge keeps the higher of the
-- stored and the incoming rank and never recomputes a stored one. So a
-- rule that ranks a kind of name lower than before (the twenty-seventh
-- session's: a producer's name spelling the ATT&CK id that keys its object,
-- graph.NamesItsKey, ranks below every other name, prefix ",") left every
-- name it would demote winning in a database loaded before: CISA's
-- "Credential Access - Steal Web Session Cookie [T1539]" stayed T1539's
-- name after ATT&CK was loaded again, and a reload of CISA's advisory (the
-- same version) merged its new, lower rank with the stored one and kept the
-- stored. Only a load into an empty database gave ATT&CK's name. A rule that
-- ranks a name higher (the twenty-eighth session's: a vulnerability's record
-- named by the CVE id that keys it, graph.IsItsCVEName, prefix "~") takes
-- effect when such a record is written again, but not before.
--
-- name_rank_prefix(kind, key, name) is those two rules, as Go writes them
-- (graph.NamesItsKey, graph.IsItsCVEName; TestNameRankPrefixIsGraphs in
-- this directory holds the two together): "," for a name
-- spelling the ATT&CK id that keys it (the id as a word, not a
-- sub-technique's id beginning with it), "~" for a vulnerability named by
-- its CVE id, else "". This migration prefixes each stored name rank that
-- lacks its prefix (a rank already starting with "," or "~" was written
-- under the rules), in node_records and in the rows of nodes that are not
-- recorded (their name_rank is the rank of the record their name came
-- from), and sets a recorded node's name to its records' merge again (the
-- name of the highest name_rank, as NodeRemergeRecords does). The stored
-- graph is then the one the records give under the rules now: where a
-- record naming the object otherwise is stored (node_records), it names the
-- node at once; a node not recorded keeps only the winning record's name,
-- now ranked lower, so the next record naming it otherwise (the next load
-- of ATT&CK) replaces it. One scan of nodes, and of the records of the
-- nodes keyed by an ATT&CK or a CVE id.
--
-- A later rule that changes a name rank needs the same: a new
-- name_rank_prefix and a migration like this one.
-- +goose StatementBegin
CREATE FUNCTION name_rank_prefix(kind text, key text, name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN key ~ '^(T[0-9]{4}(\.[0-9]{3})?|[GSCM][0-9]{4}|TA[0-9]{4}|DS[0-9]{4})$'
             AND upper(name) ~ ('(^|[^A-Za-z0-9_])' || replace(key, '.', '\.') || '($|[^A-Za-z0-9_.]|\.$|\.[^0-9])')
            THEN ','
        WHEN kind = 'vulnerability' AND key ~* '^CVE-[0-9]{4}-[0-9]{4,}$' AND upper(btrim(name, E' \t\n\r\v\f')) = upper(key)
            THEN '~'
        ELSE ''
    END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION name_rank_prefix(text, text, text) IS 'The prefix graph.nodeRecordRanks gives the name rank of a record of a node of kind and key named name: "," when the name spells the ATT&CK id that keys it (graph.NamesItsKey), "~" when it is the CVE id that keys its vulnerability (graph.IsItsCVEName), else "". Used by migration 00046 to rank names stored before those rules.';

UPDATE node_records r SET name_rank = name_rank_prefix(n.kind, n.key, r.name) || r.name_rank
FROM nodes n
WHERE n.recorded AND n.id = r.node_id
  AND r.name_rank <> '' AND left(r.name_rank, 1) NOT IN (',', '~')
  AND name_rank_prefix(n.kind, n.key, r.name) <> '';

UPDATE nodes n SET name = g.name, name_rank = g.name_rank, updated_at = now()
FROM (
    SELECT r.node_id,
           coalesce((array_agg(r.name ORDER BY r.name_rank DESC) FILTER (WHERE r.name_rank <> ''))[1], '') AS name,
           max(r.name_rank) AS name_rank
    FROM node_records r JOIN nodes k ON k.id = r.node_id AND k.recorded
         AND (k.key ~ '^(T[0-9]{4}(\.[0-9]{3})?|[GSCM][0-9]{4}|TA[0-9]{4}|DS[0-9]{4})$'
              OR (k.kind = 'vulnerability' AND k.key ~* '^CVE-[0-9]{4}-[0-9]{4,}$'))
    GROUP BY r.node_id
) g
WHERE n.id = g.node_id AND (n.name, n.name_rank) IS DISTINCT FROM (g.name, g.name_rank);

UPDATE nodes n SET name_rank = name_rank_prefix(n.kind, n.key, n.name) || n.name_rank
WHERE NOT n.recorded
  AND n.name_rank <> '' AND left(n.name_rank, 1) NOT IN (',', '~')
  AND name_rank_prefix(n.kind, n.key, n.name) <> '';

-- +goose Down
-- The ranks stay as the rules rank them: an older intel reads a ","
-- prefix as its own (NamesItsKey's, since the twenty-seventh session); a
-- "~" one it does not give, so it is taken off again and recorded nodes
-- named anew from their records.
UPDATE node_records SET name_rank = substr(name_rank, 2) WHERE left(name_rank, 1) = '~';
UPDATE nodes n SET name = g.name, name_rank = g.name_rank
FROM (
    SELECT r.node_id,
           coalesce((array_agg(r.name ORDER BY r.name_rank DESC) FILTER (WHERE r.name_rank <> ''))[1], '') AS name,
           max(r.name_rank) AS name_rank
    FROM node_records r JOIN nodes n2 ON n2.id = r.node_id AND n2.kind = 'vulnerability' AND n2.recorded
    GROUP BY r.node_id
) g
WHERE n.id = g.node_id AND (n.name, n.name_rank) IS DISTINCT FROM (g.name, g.name_rank);
UPDATE nodes SET name_rank = substr(name_rank, 2) WHERE NOT recorded AND left(name_rank, 1) = '~';
DROP FUNCTION name_rank_prefix(text, text, text);
