SELECT d.g, count(*), sum(f.v) AS total
FROM facts f JOIN dims d ON d.k = f.k
WHERE f.v > 10 AND d.g <> 'g3'
GROUP BY d.g
HAVING count(*) > 1
ORDER BY total DESC
LIMIT 3
