-- +goose Up
-- entity_edges_out returns the out edges of the nodes ids as entities
-- (entity_relations), one per (parent, relation, peer): when two nodes that
-- stand for one entity link the same peer with the same relation, the edge
-- kept is the earliest seen (then by last seen, sources, confidence), so a
-- walk's answer never depends on the plan. Both walks' results read it
-- (FindRelated, WalkLevelsRelationsOut); the walks' expansion takes each
-- (relation, peer, direction) once with a DISTINCT of its own, which needs
-- no pick. (A DISTINCT ON inside entity_relations, which the expansion
-- inlines per node, cost 1.3-1.4x on the slowest corpus walks.)
-- +goose StatementBegin
CREATE FUNCTION entity_edges_out(ids uuid[], raw boolean)
RETURNS TABLE (parent uuid, nbr uuid, relation text,
               confidence smallint, sources text[], first_seen timestamptz, last_seen timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT DISTINCT ON (x.parent, x.relation, x.nbr)
           x.parent, x.nbr, x.relation, x.confidence, x.sources, x.first_seen, x.last_seen
    FROM entity_relations(ids, raw) AS x
    WHERE x.direction = 'out'
    ORDER BY x.parent, x.relation, x.nbr, x.first_seen, x.last_seen, x.sources, x.confidence
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION entity_edges_out(uuid[], boolean);
