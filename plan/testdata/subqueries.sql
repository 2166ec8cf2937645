SELECT name,
       (SELECT sum(amount) FROM orders o WHERE o.customer_id = c.id) AS spent
FROM customers c
WHERE id IN (SELECT customer_id FROM orders WHERE status = 'paid')
  AND NOT EXISTS (SELECT 1 FROM orders o2 WHERE o2.customer_id = c.id AND o2.amount > 50)
