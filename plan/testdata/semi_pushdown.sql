SELECT c.name, f.id
FROM customers c, orders o, facts f
WHERE o.customer_id = c.id AND f.id = o.id
  AND o.id IN (SELECT k FROM dims WHERE g = 'g1')
