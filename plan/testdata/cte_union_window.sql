WITH a AS (SELECT id, status FROM orders WHERE amount IS NOT NULL),
     b AS (SELECT id, 'none' AS status FROM customers)
SELECT id, status, row_number() OVER (PARTITION BY status ORDER BY id DESC) AS rn
FROM (SELECT * FROM a UNION ALL SELECT * FROM b) u
ORDER BY status, rn
