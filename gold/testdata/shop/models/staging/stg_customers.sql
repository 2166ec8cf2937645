select
    id as customer_id,
    first_name,
    last_name,
    first_name || ' ' || last_name as full_name,
    email,
    signup_date,
    is_active
from {{ ref('raw_customers') }}
