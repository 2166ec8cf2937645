SELECT c.name, o.id, o.amount
FROM customers c, orders o, facts f
WHERE o.customer_id = c.id AND f.id = o.id AND c.city = 'paris'
