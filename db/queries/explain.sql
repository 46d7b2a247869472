-- name: EdgeStatements :many
-- EdgeStatements returns the records that state each edge of a walk's
-- answer (parallel arrays @srcs, @relations, @dsts; each edge is a relation
-- between two reached nodes, as entities): every stored relation of that
-- type between a node of the source's entity and a node of the
-- destination's entity (the node itself and the nodes node_entities maps to
-- it, as entity_relations reads them: unless @include_withdrawn, revoked
-- copies too, and no withdrawn relation), each with its relation records
-- that are not superseded (relation_records: the references the feed wrote,
-- its feeds, confidence, TLP, times, lifecycle, props) and the relationship ids
-- that name the record's references (relation_ids: STIX relationship ids,
-- misp--<uuid> of MISP object references; a relationship whose target is a
-- relationship names the records to that relationship's ends it was
-- expanded to), and the objects whose own
-- properties state it (the ids in relation_records.stated: an indicator
-- for its pattern's based-on, a report for its object_refs, a MISP event
-- for its links), with those objects' TLPs (and, for a link no id or
-- object states, of its source and of the records its source takes its
-- TLP from: props tlp_from). A relation with no record (none
-- written since migration 00007) comes as its own row, with empty refs.
-- One statement for all the edges; rows in (edge, stored src, stored dst,
-- src_ref, dst_ref) order.
WITH edge AS (
    SELECT DISTINCT unnest(@srcs::uuid[]) AS src, unnest(@relations::text[]) AS relation, unnest(@dsts::uuid[]) AS dst
), ends AS (
    SELECT x.src AS id FROM edge x
    UNION
    SELECT x.dst FROM edge x
), member AS (
    -- each end's nodes: itself and the nodes that stand for it
    SELECT n.id AS entity, n.id AS node_id FROM ends n
    UNION ALL
    SELECT m.entity_id, m.node_id FROM node_entities m
    WHERE m.entity_id IN (SELECT n.id FROM ends n) AND (NOT @include_withdrawn::boolean OR m.reason = 'alias')
), pair AS MATERIALIZED (
    -- each edge with every (source node, destination node) that may store
    -- it, so that relations is joined on its whole key at once (joined
    -- to the ends one at a time, the plan matched every relation of the
    -- edge's type and destination first and sorted them on disk)
    SELECT e.src, e.relation, e.dst, s.node_id AS src_node, d.node_id AS dst_node
    FROM edge e
    JOIN member s ON s.entity = e.src
    JOIN member d ON d.entity = e.dst
)
SELECT e.src::uuid AS edge_src, e.relation::text AS edge_relation, e.dst::uuid AS edge_dst,
       r.src_id, r.dst_id,
       coalesce(rr.src_ref, '')::text AS src_ref,
       coalesce(rr.dst_ref, '')::text AS dst_ref,
       coalesce(rr.sources, r.sources)::text[] AS sources,
       coalesce(rr.confidence, r.confidence, -1)::smallint AS confidence,
       coalesce(coalesce(rr.props, r.props)->>'tlp', '')::text AS tlp,
       relation_withdrawn(coalesce(rr.props, r.props))::boolean AS withdrawn,
       coalesce(rr.first_seen, r.first_seen)::timestamptz AS first_seen,
       coalesce(rr.last_seen, r.last_seen)::timestamptz AS last_seen,
       -- the record's own properties (a STIX relationship's description
       -- and external references, a MISP object reference's comment)
       coalesce(rr.props, r.props, '{}'::jsonb)::jsonb AS props,
       coalesce((SELECT array_agg(x.source_id ORDER BY x.source_id) FROM (
                     SELECT i.source_id FROM relation_ids i
                     WHERE i.src_ref = rr.src_ref AND i.relation = rr.relation AND i.dst_ref = rr.dst_ref
                     UNION
                     -- a relationship whose target is a relationship (OpenCTI's
                     -- indicator "indicates" one) states the links to that
                     -- relationship's ends it was expanded to
                     SELECT i.source_id FROM relation_ids i JOIN relation_ids a ON a.source_id = i.dst_ref
                     WHERE i.src_ref = rr.src_ref AND i.relation = rr.relation AND i.dst_ref LIKE 'relationship--%'
                       AND rr.dst_ref IN (a.src_ref, a.dst_ref)) x), '{}')::text[] AS ids,
       -- (a key "<object> via <relationship id>": the object, which named
       -- a relationship the record is an end of)
       ARRAY(SELECT DISTINCT split_part(k, ' via ', 1) COLLATE "C" FROM jsonb_object_keys(coalesce(rr.stated, '{}'::jsonb)) AS k
             WHERE split_part(k, ' via ', 1) <> '' ORDER BY 1)::text[] AS objects,
       -- the markings of the objects stating it (their nodes' TLP): a link
       -- an object states is marked as the object is (a MISP event's TLP
       -- is not written on its links, a STIX object's is)
       ARRAY(SELECT o.tlp FROM jsonb_object_keys(coalesce(rr.stated, '{}'::jsonb)) AS k
             CROSS JOIN LATERAL ref_node(split_part(k, ' via ', 1)) AS f JOIN nodes o ON o.id = f.node_id
             WHERE split_part(k, ' via ', 1) <> '' AND o.tlp IS NOT NULL AND o.tlp <> '')::text[] AS object_tlps,
       -- and of the node its src_ref names, the object stating it when no
       -- id or object does (a sighting's sighting-of)
       coalesce((SELECT o.tlp FROM ref_node(rr.src_ref) AS f JOIN nodes o ON o.id = f.node_id), '')::text AS src_tlp,
       -- and of the records that node takes its TLP from though they are
       -- stored apart (its props' tlp_from, graph.PropTLPFrom: a MISP
       -- sighting of an attribute another document gave)
       ARRAY(SELECT t.tlp FROM ref_node(rr.src_ref) AS f JOIN nodes o ON o.id = f.node_id
             CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(o.props->'tlp_from') = 'array'
                                                               THEN o.props->'tlp_from' ELSE '[]'::jsonb END) AS k
             CROSS JOIN LATERAL ref_node(k) AS g JOIN nodes t ON t.id = g.node_id
             WHERE t.tlp IS NOT NULL AND t.tlp <> '')::text[] AS src_tlps_from
FROM pair e
JOIN relations r ON r.src_id = e.src_node AND r.relation = e.relation AND r.dst_id = e.dst_node
LEFT JOIN relation_records rr ON rr.src_id = r.src_id AND rr.relation = r.relation AND rr.dst_id = r.dst_id
                             AND NOT rr.superseded
WHERE @include_withdrawn::boolean OR NOT relation_withdrawn(r.props)
ORDER BY e.src, e.relation, e.dst, r.src_id, r.dst_id, rr.src_ref, rr.dst_ref;
